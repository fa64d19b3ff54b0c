"""The bare baseline for chat_load: a Channels websocket relay over the Redis layer.

Same path shape as visitor -> agent (socket -> consumer -> Redis pub/sub group ->
consumer -> socket) without the database or any of our code. Served by uvicorn:
    uvicorn bench.scenarios._chat_echo:application
Frames: {"join": room} joins a group; {"to": room, "body": ...} relays to it.
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
            }
        },
        INSTALLED_APPS=["channels"],
    )
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Relay(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if "join" in content:
            await self.channel_layer.group_add(f"echo.{content['join']}", self.channel_name)
            await self.send_json({"joined": content["join"]})
        else:
            await self.channel_layer.group_send(
                f"echo.{content['to']}", {"type": "relay", "body": content["body"]}
            )

    async def relay(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "entry.created", "body": event["body"]})


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/echo/", Relay.as_asgi())])})
