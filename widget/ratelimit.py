"""Fixed-window counters in the shared cache (Redis in production), per visitor and IP."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache

Limit = tuple[str, str, int]  # (scope, key, hits allowed per window); 0 = no limit


def allow(scope: str, key: str, limit: int, window: int = 60) -> bool:
    """Count one hit; False once `limit` hits fell in the current `window` seconds."""
    return allow_all([(scope, key, limit)], window)


def allow_all(limits: list[Limit], window: int = 60) -> bool:
    """Count one hit against each limit; False once any of them is over."""
    return allow_many([limits], window)[0]


def allow_many(hits: list[list[Limit]], window: int = 60) -> list[bool]:
    """allow_all for several hits at once (a batch of messages): one answer each.

    On Redis all the counters cost one round trip together: the generic cache API
    took three per counter (add, exists, incr), and a widget message checks two.
    """
    bucket = int(time.time() // window)
    names = [
        f"widget.rl.{scope}.{key}.{bucket}"
        for limits in hits
        for scope, key, limit in limits
        if limit > 0
    ]
    if not names:
        return [True] * len(hits)
    redis = _redis_client()
    if redis is not None:
        # SET NX EX starts the window's counter with its expiry (EXPIRE NX would need
        # Redis 7; the embedded one is 6.2), INCR counts; MULTI keeps a counter from
        # expiring between the two, which would leave one that never expires.
        pipe = redis.pipeline(transaction=True)
        for name in names:
            key = cache.make_and_validate_key(name)
            pipe.set(key, 0, ex=window + 5, nx=True)
            pipe.incr(key)
        counts = iter(pipe.execute()[1::2])
    else:
        counts = iter([_count(name, window) for name in names])
    answers = []
    for limits in hits:
        # Take every counter of this hit (no short cut): they come in the order sent.
        over = [next(counts) > limit for _scope, _key, limit in limits if limit > 0]
        answers.append(not any(over))
    return answers


def _redis_client() -> Any:
    """The raw client of helpdesk.cache.SharedRedisCache; None for other backends."""
    raw = getattr(cache, "raw_client", None)
    return raw() if raw is not None else None


def _count(name: str, window: int) -> int:
    # add() is atomic (SET NX): exactly one caller creates the counter, all increment.
    cache.add(name, 0, timeout=window + 5)
    try:
        count: int = cache.incr(name)
    except ValueError:  # expired between add and incr: start again
        cache.add(name, 1, timeout=window + 5)
        count = 1
    return count
