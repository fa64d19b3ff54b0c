from __future__ import annotations

from django.urls import path

from conversations import consumers

websocket_urlpatterns = [
    path("ws/agent/", consumers.AgentConsumer.as_asgi()),
]
