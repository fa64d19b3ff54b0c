"""Fetching provider media into storage, right after the message is recorded.

Meta's media ids and CDN URLs, and Telegram's file ids, expire or need our token:
an entry recorded with such attachments (only `source_url`, no file) gets one
`channels_in.fetch_media` task per attachment; the adapter's `download_media`
returns the bytes and `conversations.actions.attach_file` stores them.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from celery import Task, shared_task
from django.dispatch import receiver

from channels_in.base import ChannelError
from channels_in.registry import adapter_for
from conversations import actions as core
from conversations.models import Attachment, Entry
from conversations.signals import coalesce, entry_created
from helpdesk.queue import enqueue

log = logging.getLogger(__name__)

FETCH_MEDIA_TASK = "channels_in.fetch_media"
# The inbox kinds whose adapters fetch media through this module.
MEDIA_KINDS = frozenset({"whatsapp_cloud", "messenger", "instagram", "telegram"})


class MediaSource(Protocol):
    def download_media(self, attachment: Attachment) -> tuple[bytes, str]: ...


def _fetch_media_of(*entry_ids: int) -> None:
    pending = Attachment.objects.filter(
        entry_id__in=entry_ids, file="", entry__inbox__kind__in=MEDIA_KINDS
    ).exclude(source_url="")
    for attachment_id in pending.values_list("pk", flat=True):
        enqueue(FETCH_MEDIA_TASK, attachment_id)


@receiver(entry_created)
def fetch_new_media(sender: Any, entry_id: int, kind: str, **kwargs: Any) -> None:
    if kind not in (Entry.Kind.INBOUND, Entry.Kind.OUTBOUND):
        return
    # A batch of inbound messages looks for their media in one query.
    coalesce(_fetch_media_of, entry_id)


def fetch(attachment_id: int) -> bool:
    """Download one attachment; True when a retry may help."""
    attachment = Attachment.objects.select_related("entry__inbox").filter(pk=attachment_id).first()
    if attachment is None or attachment.file or attachment.entry.inbox is None:
        return False
    adapter = adapter_for(attachment.entry.inbox)
    if not hasattr(adapter, "download_media"):
        return False
    source: MediaSource = adapter
    try:
        content, content_type = source.download_media(attachment)
        core.attach_file(attachment_id, content, content_type)
    except ChannelError as exc:
        log.warning("fetching attachment %s failed: %s", attachment_id, exc.message)
        return not exc.permanent
    except core.ActionError as exc:
        log.warning("attachment %s refused: %s", attachment_id, exc)
    return False


@shared_task(name=FETCH_MEDIA_TASK, bind=True, max_retries=5)
def fetch_media(self: Task, attachment_id: int, **kwargs: Any) -> Any:
    if fetch(attachment_id):
        return self.retry(countdown=min(300, 10 * 2**self.request.retries), throw=False)
    return None
