"""Thin, named, JSON-only tasks; each looks its row up and delegates."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.core.cache import cache

from channels_in import actions
from channels_in.twilio import tasks as twilio_tasks  # noqa: F401  (registers them)


def _backoff(retries: int) -> int:
    return min(600, 5 * 2**retries)  # 5 s, 10 s, 20 s ... capped at 10 min


@shared_task(name=actions.DRAIN_TASK, ignore_result=True)
def drain_inbound(**kwargs: Any) -> int:
    # Cleared first: an event stored while we drain asks for another drain.
    cache.delete(actions.DRAIN_REQUESTED_KEY)
    return actions.drain()


@shared_task(name="channels_in.process_inbound", bind=True, max_retries=8)
def process_inbound(self: Task, event_id: int, **kwargs: Any) -> Any:
    outcome = actions.process_event(event_id)
    if outcome is not None and outcome.retry:
        # throw=False: the retry is scheduled and this run ends normally, which also
        # lets eager mode (tests) run the retry in-process.
        return self.retry(countdown=_backoff(self.request.retries), throw=False)
    return None


@shared_task(name="channels_in.send_outbound", bind=True, max_retries=8)
def send_outbound(self: Task, entry_id: int, **kwargs: Any) -> Any:
    outcome = actions.deliver(entry_id)
    if outcome is not None and outcome.retry:
        # throw=False: the retry is scheduled and this run ends normally, which also
        # lets eager mode (tests) run the retry in-process.
        return self.retry(countdown=_backoff(self.request.retries), throw=False)
    return None


@shared_task(name="channels_in.sweep")
def sweep(**kwargs: Any) -> None:
    actions.sweep_inbound()
    actions.fail_stale_sends()
