"""JSON shapes sent over websockets and webhooks (one place, so they can't drift)."""

from __future__ import annotations

from typing import Any, TypedDict

from conversations.models import Conversation, Entry


class EntryPayload(TypedDict):
    id: str
    conversation: int
    kind: str
    channel: str
    author: str | None
    body: str
    subject: str
    delivery_status: str
    delivery_error: str
    is_auto: bool
    event: str
    parameters: dict[str, Any]
    occurred_at: str
    attachments: list[dict[str, Any]]


def entry_payload(entry: Entry, *, with_attachments: bool = False) -> EntryPayload:
    attachments: list[dict[str, Any]] = []
    if with_attachments:
        attachments = [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": a.file.url if a.file else "",
            }
            for a in entry.attachments.all()
        ]
    return {
        "id": str(entry.public_id),
        "conversation": entry.conversation_id,
        "kind": entry.kind,
        "channel": entry.channel,
        "author": entry.author.display_name if entry.author_id and entry.author else None,
        "body": entry.body,
        "subject": entry.subject,
        "delivery_status": entry.delivery_status,
        "delivery_error": entry.delivery_error,
        "is_auto": entry.is_auto,
        "event": entry.event,
        "parameters": entry.parameters,
        "occurred_at": entry.occurred_at.isoformat(),
        "attachments": attachments,
    }


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "contact": conversation.contact_id,
        "assignee": conversation.assignee_id,
        "team": conversation.team_id,
        "last_message_at": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
        "waiting_since": (
            conversation.waiting_since.isoformat() if conversation.waiting_since else None
        ),
        "last_inbound_channel": conversation.last_inbound_channel,
    }
