"""The Celery application; tasks live in each app's tasks.py."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _announce_worker(sender: Any = None, **kwargs: Any) -> None:
    # /healthz reports the worker healthy from its first heartbeat; send one now
    # rather than waiting for beat's first interval.
    sender.app.send_task("helpdesk.heartbeat")
