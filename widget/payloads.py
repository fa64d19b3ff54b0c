"""What a visitor's widget receives: its own messages, never internal details."""

from __future__ import annotations

from typing import Any, TypedDict

from django.core import signing
from django.urls import reverse

from conversations.models import Attachment, Entry
from conversations.payloads import EntryPayload

FILE_SALT = "widget.file"


class VisitorAttachment(TypedDict):
    filename: str
    content_type: str
    size: int
    url: str


class VisitorEntry(TypedDict):
    id: str
    conversation: int
    kind: str
    body: str
    author: str | None
    occurred_at: str
    delivery_status: str
    client_id: str | None
    attachments: list[VisitorAttachment]


def attachment_url(slug: str, attachment: Attachment) -> str:
    """An unguessable link: the signed attachment id is the permission."""
    token = signing.dumps(attachment.pk, salt=FILE_SALT)
    return reverse("widget:file", args=[slug, token])


def visitor_entry(entry: Entry, slug: str, *, with_attachments: bool = True) -> VisitorEntry:
    """From a model row (history and acks); attachments should be prefetched."""
    attachments = list(entry.attachments.all()) if with_attachments else []
    return {
        "id": str(entry.public_id),
        "conversation": entry.conversation_id,
        "kind": entry.kind,
        "body": entry.body,
        "author": entry.author.display_name if entry.author_id and entry.author else None,
        "occurred_at": entry.occurred_at.isoformat(),
        "delivery_status": entry.delivery_status,
        "client_id": str(entry.client_id) if entry.client_id else None,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": attachment_url(slug, a) if a.file else "",
            }
            for a in attachments
        ],
    }


def visitor_entry_from_event(entry: EntryPayload | dict[str, Any]) -> VisitorEntry:
    """From a published entry.created payload (no database work on the hot path)."""
    return {
        "id": entry["id"],
        "conversation": entry["conversation"],
        "kind": entry["kind"],
        "body": entry["body"],
        "author": entry.get("author"),
        "occurred_at": entry["occurred_at"],
        "delivery_status": entry.get("delivery_status", ""),
        "client_id": None,
        "attachments": [],
    }
