from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Cached KPI figures are keyed by the facts version, which restarts in every test."""
    cache.clear()
    yield
    cache.clear()
