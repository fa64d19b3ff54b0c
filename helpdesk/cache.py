"""The Redis cache backend with one client (and connection pool) per process.

Django keeps a cache instance per thread *and per async context*, and its RedisCache
builds a fresh client with its own connection pool for every instance. Under ASGI
each websocket is an async context that lives for hours, so every socket that
touched the cache once (presence, rate limits) kept a Redis connection of its own:
10,000 idle widget sockets held 10,000 Redis connections, twice the file
descriptors, and the process ran out of them at about half its target. redis-py's
client is thread-safe and its pool resets itself after a fork, so one per process
(per server list and options) is enough; the pool's size still bounds it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[str, RedisCacheClient] = {}
_lock = threading.Lock()


class _ReusedClient(RedisCacheClient):
    """Django's client builds a redis.Redis (with its table of ~170 response
    callbacks) for every cache call; the Redis object is as thread-safe as its pool,
    so one per pool serves every call: about 0.1 ms saved per cache operation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._redis.get(id(pool))
        if client is None:
            client = self._redis[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class SharedRedisCache(RedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._servers_list = re.split("[;,]", server) if isinstance(server, str) else server
        self._client_options: dict[str, Any] = params.get("OPTIONS", {})
        self._client_key = repr((self._servers_list, sorted(self._client_options.items())))

    @property
    def _cache(self) -> RedisCacheClient:
        client = _clients.get(self._client_key)
        if client is None:
            with _lock:
                client = _clients.get(self._client_key)
                if client is None:
                    client = _ReusedClient(self._servers_list, **self._client_options)
                    _clients[self._client_key] = client
        return client

    def raw_client(self) -> Any:
        """The redis-py client (for what the cache API can't say in one round trip,
        e.g. widget.ratelimit's INCR + EXPIRE NX pipeline). Keys made by the caller
        with make_and_validate_key; integers are stored as plain numbers."""
        return self._cache.get_client(None, write=True)
