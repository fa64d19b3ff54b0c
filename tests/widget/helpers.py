from __future__ import annotations

import uuid
from typing import Any

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections

from channels_in import actions as channel_actions
from channels_in.models import Inbox
from conversations.consumers import AgentConsumer
from helpdesk.models import Agent, Team
from widget.routing import websocket_urlpatterns

ORIGIN = "https://shop.example.com"
IDENTITY_SECRET = "identity-secret-for-tests"

widget_app = URLRouter(websocket_urlpatterns)


def make_chat_inbox(slug: str = "site", team: Team | None = None, **values: Any) -> Inbox:
    config = {
        "allowed_origins": ORIGIN,
        "identity_secret": IDENTITY_SECRET,
        "title": "Northwind",
        **values,
    }
    return channel_actions.create_inbox(
        "chat", slug, name="Website", team_id=team.pk if team else None, values=config
    )


def make_agent(email: str = "alice@example.org", name: str = "Alice", team: Team | None = None):
    agent = Agent.objects.create_user(email, "password", name=name)
    if team is not None:
        team.members.add(agent)
    return agent


def visitor(
    slug: str = "site", origin: str | None = ORIGIN, host: str = "help.example.org"
) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(widget_app, f"/ws/widget/{slug}/", headers=headers)


def agent_socket(agent: Agent) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
    communicator.scope["user"] = agent
    return communicator


async def hello(communicator: WebsocketCommunicator, **frame: Any) -> dict[str, Any]:
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "hello", **frame})
    return await communicator.receive_json_from(timeout=5)


async def say(communicator: WebsocketCommunicator, body: str, client_id: str | None = None):
    client_id = client_id or str(uuid.uuid4())
    await communicator.send_json_to({"type": "message", "client_id": client_id, "body": body})
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] in ("ack", "error"):
            return frame


async def next_of(communicator: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict:
    """The next frame of a type, skipping others (e.g. conversation summaries)."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame.get("type") == kind:
            return frame


class Queries:
    """Counts queries run by database_sync_to_async helpers.

    They run in the test's own thread (thread-sensitive), on this very connection.
    """

    def __init__(self) -> None:
        self.connection = connections["default"]
        self.connection.force_debug_cursor = True
        self.start = 0

    def mark(self) -> None:
        self.start = len(self.connection.queries_log)

    @property
    def count(self) -> int:
        return len(self.connection.queries_log) - self.start

    @property
    def until_commit(self) -> int:
        """Queries of the action's own transaction (after it, extension receivers run)."""
        sql = self.sql()
        return sql.index("COMMIT") + 1 if "COMMIT" in sql else len(sql)

    def sql(self) -> list[str]:
        return [q["sql"] for q in list(self.connection.queries_log)[self.start :]]
