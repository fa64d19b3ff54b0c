"""The open-websocket gauge for /metrics, kept in Redis so every ASGI process adds up.

A process killed without closing its sockets leaves the count high until restart of
Redis or the next `reset`; it is a gauge for dashboards, not an exact ledger.
"""

from __future__ import annotations

import redis

from helpdesk.health import WS_CONNECTIONS_KEY, _redis


def socket_opened() -> None:
    try:
        _redis().incr(WS_CONNECTIONS_KEY)
    except redis.RedisError:
        pass  # metrics must never break a connection


def socket_closed() -> None:
    try:
        _redis().decr(WS_CONNECTIONS_KEY)
    except redis.RedisError:
        pass
