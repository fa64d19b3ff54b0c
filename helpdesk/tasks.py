from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "helpdesk:worker-heartbeat"


@shared_task(name="helpdesk.heartbeat")
def heartbeat(**kwargs: Any) -> None:
    """Proves to /healthz that a worker is consuming the queue."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)
