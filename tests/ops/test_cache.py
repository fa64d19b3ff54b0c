from __future__ import annotations

from helpdesk.cache import SharedRedisCache

URL = "redis://127.0.0.1:1/0"  # never connected to: building a client opens no socket


def test_instances_of_the_same_cache_share_one_client() -> None:
    # Django makes one instance per thread and per async context: one per websocket
    # under ASGI. With the stock backend each held Redis connections of its own.
    first = SharedRedisCache(URL, {"OPTIONS": {"max_connections": 7}})
    second = SharedRedisCache(URL, {"OPTIONS": {"max_connections": 7}})
    assert first._cache is second._cache


def test_a_cache_with_other_options_gets_its_own_client() -> None:
    first = SharedRedisCache(URL, {"OPTIONS": {"max_connections": 7}})
    other = SharedRedisCache(URL, {"OPTIONS": {"max_connections": 8}})
    assert first._cache is not other._cache


def test_every_call_reuses_one_redis_client_per_pool() -> None:
    # Django's client built a redis.Redis per cache call (~0.1 ms each).
    cache = SharedRedisCache(URL, {"OPTIONS": {"max_connections": 9}})
    first = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is first
    assert cache.raw_client() is first
    assert first.connection_pool.max_connections == 9
