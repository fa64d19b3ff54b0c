from __future__ import annotations

from django.urls import path

from widget import consumers

# Outside AllowedHostsOriginValidator on purpose: the widget runs on customers'
# websites, and the consumer checks the Origin against the inbox's allowed_origins.
websocket_urlpatterns = [
    path("ws/widget/<slug:slug>/", consumers.VisitorConsumer.as_asgi()),
]
