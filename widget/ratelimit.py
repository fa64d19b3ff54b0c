"""Fixed-window counters in the shared cache (Redis in production), per visitor and IP."""

from __future__ import annotations

import time

from django.core.cache import cache


def allow(scope: str, key: str, limit: int, window: int = 60) -> bool:
    """Count one hit; False once `limit` hits fell in the current `window` seconds."""
    if limit <= 0:
        return True
    bucket = int(time.time() // window)
    name = f"widget.rl.{scope}.{key}.{bucket}"
    # add() is atomic (SET NX): exactly one caller creates the counter, all increment.
    cache.add(name, 0, timeout=window + 5)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr: start again
        cache.add(name, 1, timeout=window + 5)
        count = 1
    return count <= limit
