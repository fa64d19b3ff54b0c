"""Enqueue Celery tasks by their stable name, after the transaction commits.

By name, so the core never imports the app whose task it triggers; through the
registered task when there is one, so eager mode in tests runs it in-process.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
    task = current_app.tasks.get(task_name)
    if task is not None:
        task.apply_async(args=args, **options)
    else:
        current_app.send_task(task_name, args=args, **options)


def enqueue_on_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Enqueue when the surrounding transaction commits; never for a rolled-back one.

    robust: a broker outage must not turn a committed write into an error; the
    sweeps find work that was stored but never enqueued.
    """
    transaction.on_commit(lambda: enqueue(task_name, *args, countdown=countdown), robust=True)
