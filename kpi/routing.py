from __future__ import annotations

from django.urls import path

from kpi.consumers import KpiConsumer

websocket_urlpatterns = [path("ws/kpi/", KpiConsumer.as_asgi())]
