from __future__ import annotations

from typing import Any

from celery import shared_task

from conversations import actions


@shared_task(name="conversations.wake_snoozed")
def wake_snoozed(**kwargs: Any) -> None:
    actions.wake_snoozed()
