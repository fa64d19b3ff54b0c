"""Thin, named, JSON-only tasks."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from webhooks import actions


@shared_task(name="webhooks.deliver", bind=True, max_retries=None)
def deliver(self: Task, delivery_id: int, **kwargs: Any) -> Any:
    # max_retries=None: actions.deliver decides, from WEBHOOK_MAX_ATTEMPTS stored
    # attempts, whether another try is due, so a task run twice can't overshoot.
    outcome = actions.deliver(delivery_id)
    if outcome is not None and outcome.retry:
        # throw=False: the retry is scheduled and this run ends normally, which also
        # lets eager mode (tests) run the retry in-process.
        return self.retry(countdown=actions.backoff(self.request.retries), throw=False)
    return None


@shared_task(name="webhooks.sweep")
def sweep(**kwargs: Any) -> None:
    actions.sweep()
