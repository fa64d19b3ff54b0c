"""Twilio's background work (registered from channels_in.tasks)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from channels_in.twilio import media

FETCH_MEDIA_TASK = "channels_in.twilio_fetch_media"


@shared_task(name=FETCH_MEDIA_TASK, bind=True, max_retries=6)
def fetch_media(self: Task, inbox_id: int, message_sid: str, **kwargs: Any) -> Any:
    outcome = media.fetch_message_media(inbox_id, message_sid)
    if outcome.retry:
        return self.retry(countdown=min(600, 10 * 2**self.request.retries), throw=False)
    return None
