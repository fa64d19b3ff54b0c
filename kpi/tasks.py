"""Celery tasks of the kpi app: thin, named, id-only, safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.cache import cache

from kpi import actions, surveys

REFRESH_SCHEDULED_KEY = "kpi:refresh-scheduled"
# Changes arriving within this many seconds share one refresh.
REFRESH_DEBOUNCE_SECONDS = 2


def schedule_refresh() -> None:
    """Refresh shortly after a change; a burst of changes triggers one refresh."""
    if cache.add(REFRESH_SCHEDULED_KEY, 1, timeout=REFRESH_DEBOUNCE_SECONDS * 5):
        refresh.apply_async(countdown=REFRESH_DEBOUNCE_SECONDS)


@shared_task(name="kpi.refresh", ignore_result=True)
def refresh(**kwargs: Any) -> int:
    # Cleared first: a change committed while we compute schedules another run.
    cache.delete(REFRESH_SCHEDULED_KEY)
    return actions.refresh_kpis()


@shared_task(name="kpi.rebuild", ignore_result=True)
def rebuild(**kwargs: Any) -> int:
    return actions.refresh_kpis(full=True)


@shared_task(name="kpi.contact_changed", ignore_result=True)
def contact_changed(contact_id: int, **kwargs: Any) -> None:
    actions.mark_contact_dirty(contact_id)
    schedule_refresh()


@shared_task(
    name="kpi.request_survey",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def request_survey(conversation_id: int, **kwargs: Any) -> None:
    surveys.request_survey(conversation_id)


@shared_task(name="kpi.survey_reply", ignore_result=True)
def survey_reply(entry_id: int, **kwargs: Any) -> None:
    surveys.handle_text_reply(entry_id)
