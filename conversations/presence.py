"""Who is online right now: agents with an inbox socket, visitors with a widget socket.

Counters in the shared cache (Redis in production), one per agent and per contact,
so several tabs count once and any web process can ask. A process that dies without
disconnecting leaves a counter behind; the timeout bounds how long it lies.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

AGENT_TTL = 6 * 3600
# Widgets ping every 25 s and each ping refreshes this, so a vanished visitor
# stops counting as online within a minute even if its disconnect was lost.
VISITOR_TTL = 75


def _agent_key(agent_id: int) -> str:
    return f"presence.agent.{agent_id}"


def _visitor_key(contact_id: int) -> str:
    return f"presence.visitor.{contact_id}"


def _up(key: str, ttl: int) -> None:
    cache.add(key, 0, timeout=ttl)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=ttl)
    cache.touch(key, ttl)


def _down(key: str) -> None:
    try:
        if cache.decr(key) <= 0:
            cache.delete(key)
    except ValueError:
        pass  # already expired


def agent_connected(agent_id: int) -> None:
    _up(_agent_key(agent_id), AGENT_TTL)


def agent_disconnected(agent_id: int) -> None:
    _down(_agent_key(agent_id))


def online_agents(agent_ids: Iterable[int]) -> list[int]:
    keys = {_agent_key(i): i for i in agent_ids}
    found = cache.get_many(list(keys))
    return sorted(keys[k] for k, count in found.items() if count and count > 0)


def visitor_connected(contact_id: int) -> None:
    _up(_visitor_key(contact_id), VISITOR_TTL)


def visitor_seen(contact_id: int) -> None:
    """A ping from an open widget: keep counting this visitor as online."""
    if not cache.touch(_visitor_key(contact_id), VISITOR_TTL):
        _up(_visitor_key(contact_id), VISITOR_TTL)


def visitor_disconnected(contact_id: int) -> None:
    _down(_visitor_key(contact_id))


def visitor_online(contact_id: int) -> bool:
    count = cache.get(_visitor_key(contact_id))
    return bool(count and count > 0)
