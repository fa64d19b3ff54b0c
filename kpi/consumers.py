"""The dashboard's socket: supervisors join the KPI group and hear when numbers change."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer

from conversations.realtime import KPI_GROUP
from kpi.access import can_see_kpis


class KpiConsumer(JsonWebsocketConsumer):
    def connect(self) -> None:
        if not can_see_kpis(self.scope.get("user")):
            self.close(code=4403)
            return
        async_to_sync(self.channel_layer.group_add)(KPI_GROUP, self.channel_name)
        self.accept()

    def disconnect(self, code: int) -> None:
        async_to_sync(self.channel_layer.group_discard)(KPI_GROUP, self.channel_name)

    def kpi_changed(self, event: dict[str, Any]) -> None:
        self.send_json({"type": "kpi.changed", "version": event.get("version")})
