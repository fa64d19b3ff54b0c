from __future__ import annotations

from tests.browser.conftest import redis_url  # noqa: F401  (a real Redis for this run)
