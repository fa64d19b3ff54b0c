"""Group names and after-commit publishing: the one place live updates are built.

Actions call publish_on_commit; consumers join the groups named here and never
invent names of their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from conversations import signals

log = logging.getLogger(__name__)

# Summaries of conversations without a team go to every agent.
AGENTS_GROUP = "agents"
KPI_GROUP = "kpi"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def team_group(team_id: int | None) -> str:
    """Conversation summaries of one team; team-less ones go to AGENTS_GROUP."""
    return f"team.{team_id}" if team_id else AGENTS_GROUP


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def visitor_group(contact_id: int) -> str:
    return f"visitor.{contact_id}"


class _PublisherLoop:
    """One event loop thread per process for publishing from synchronous code.

    async_to_sync from plain sync code (Celery tasks, management commands) starts a
    new event loop each call, and channels_redis keeps its Redis connections per
    loop, so every publish paid a thread start, a loop and a fresh connection
    (about 5 ms, three times per inbound message). This loop lives as long as the
    process and keeps one connection. Recreated after a fork (Celery prefork).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="realtime-publisher", daemon=True
                )
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_publisher = _PublisherLoop()
PUBLISH_TIMEOUT_SECONDS = 5


def _keeps_connections_per_loop(layer: Any) -> bool:
    return type(layer).__module__.startswith("channels_redis")


def publish_now(group: str, payload: dict[str, Any]) -> None:
    """Send to a group at once. A realtime outage must not fail the write it reports."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if _keeps_connections_per_loop(layer):
            future = asyncio.run_coroutine_threadsafe(
                layer.group_send(group, payload), _publisher.get()
            )
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        else:
            async_to_sync(layer.group_send)(group, payload)
    except Exception:  # noqa: BLE001 - Redis down: the data is safe, the push is lost
        log.warning("realtime publish to %s failed", group, exc_info=True)


def latest_summaries(
    messages: tuple[tuple[str, dict[str, Any]], ...],
) -> list[tuple[str, dict[str, Any]]]:
    """Drop every "conversation.updated" a later one for the same conversation and
    group replaces: a batch of 25 chat messages sent every agent socket of the team
    25 summaries of one conversation (a third of the ASGI workers' CPU under chat
    load), where the last says all of it."""
    last: dict[tuple[str, Any], int] = {}
    for i, (group, payload) in enumerate(messages):
        if payload.get("type") == "conversation.updated":
            last[(group, payload["conversation"]["id"])] = i
    return [
        (group, payload)
        for i, (group, payload) in enumerate(messages)
        if payload.get("type") != "conversation.updated"
        or last[(group, payload["conversation"]["id"])] == i
    ]


def publish_many(*messages: tuple[str, dict[str, Any]]) -> None:
    """Send many at once: groups in parallel, each group's messages in their order."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    by_group: dict[str, list[dict[str, Any]]] = {}
    for group, payload in latest_summaries(messages):
        by_group.setdefault(group, []).append(payload)

    async def send_group(group: str, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            await layer.group_send(group, payload)

    async def send_all() -> None:
        results = await asyncio.gather(
            *(send_group(g, p) for g, p in by_group.items()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("realtime publish failed", exc_info=result)

    try:
        if _keeps_connections_per_loop(layer):
            future = asyncio.run_coroutine_threadsafe(send_all(), _publisher.get())
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS * 2)
        else:
            async_to_sync(send_all)()
    except Exception:  # noqa: BLE001 - Redis down: the data is safe, the pushes are lost
        log.warning("realtime publish of %d messages failed", len(messages), exc_info=True)


def _publish(group: str, payload: dict[str, Any]) -> None:
    # Inside a signals.batch() (many messages in one transaction) the publishes of
    # the whole batch go out together at its end.
    if signals.current_batch() is None:
        publish_now(group, payload)
    else:
        signals.coalesce(publish_many, (group, payload))


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    """Publish after the surrounding transaction commits, never for a rolled-back one."""
    transaction.on_commit(lambda: _publish(group, payload))
