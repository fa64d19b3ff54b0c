"""Celery beat polls IMAP: one task fans out, one task per inbox does the work."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from channels_in.email import imap
from helpdesk.queue import enqueue

POLL_INBOX_TASK = "channels_in.poll_imap_inbox"


@shared_task(name="channels_in.poll_imap")
def poll_imap(**kwargs: Any) -> int:
    ids = imap.imap_inbox_ids()
    for inbox_id in ids:
        enqueue(POLL_INBOX_TASK, inbox_id)
    return len(ids)


@shared_task(name="channels_in.poll_imap_inbox")
def poll_imap_inbox(inbox_id: int, **kwargs: Any) -> int:
    result = imap.poll_locked(inbox_id)
    return result.stored if result else 0
