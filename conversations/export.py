"""Everything we hold about one contact, as plain JSON-ready data.

Used by `manage.py export_contact` and `GET /api/v1/contacts/<id>/export/` (a
subject access request): the contact, its identities, and every conversation with
every timeline entry, in order.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from conversations.models import Contact, Conversation, Entry

EXPORT_VERSION = 1
SURVEY_EVENT = "survey_answered"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _entry(entry: Entry) -> dict[str, Any]:
    author = entry.author
    return {
        "id": str(entry.public_id),
        "kind": entry.kind,
        "channel": entry.channel,
        "occurred_at": _iso(entry.occurred_at),
        "author": (
            {"id": author.pk, "name": author.display_name, "email": author.email}
            if author is not None
            else None
        ),
        "subject": entry.subject,
        "body": entry.body,
        "delivery_status": entry.delivery_status,
        "delivery_error": entry.delivery_error,
        "is_auto": entry.is_auto,
        "event": entry.event,
        "parameters": entry.parameters,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in entry.attachments.all()
        ],
    }


def _survey(entry: Entry) -> dict[str, Any]:
    # The kpi app records an answered survey as an event entry whose parameters carry
    # the survey kind ("csat" / "nps") and the score.
    params = entry.parameters or {}
    return {
        "entry": str(entry.public_id),
        "survey": params.get("survey", ""),
        "score": params.get("score"),
        "comment": params.get("comment", ""),
        "answered_at": _iso(entry.occurred_at),
    }


def export_contact(contact: Contact) -> dict[str, Any]:
    """The contact, its identities and all its conversations with every entry.

    A constant number of queries whatever the history's size (prefetches).
    """
    entries = Entry.objects.select_related("author").prefetch_related("attachments")
    conversations = (
        Conversation.objects.filter(contact=contact)
        .select_related("inbox", "team", "assignee")
        .prefetch_related(
            "labels", Prefetch("entries", queryset=entries.order_by("occurred_at", "id"))
        )
        .order_by("created_at", "id")
    )
    result_conversations = []
    for conversation in conversations:
        all_entries = list(conversation.entries.all())
        result_conversations.append(
            {
                "id": conversation.pk,
                "public_id": str(conversation.public_id),
                "subject": conversation.subject,
                "status": conversation.status,
                "priority": conversation.priority,
                "inbox": conversation.inbox.slug if conversation.inbox else None,
                "team": conversation.team.name if conversation.team else None,
                "assignee": conversation.assignee.email if conversation.assignee else None,
                "labels": [label.name for label in conversation.labels.all()],
                "first_channel": conversation.first_channel,
                "created_at": _iso(conversation.created_at),
                "resolved_at": _iso(conversation.resolved_at),
                "entries": [_entry(e) for e in all_entries],
                "surveys": [_survey(e) for e in all_entries if e.event == SURVEY_EVENT],
            }
        )
    return {
        "version": EXPORT_VERSION,
        "contact": {
            "id": contact.pk,
            "public_id": str(contact.public_id),
            "name": contact.name,
            "attributes": contact.attributes,
            "created_at": _iso(contact.created_at),
            "erased_at": _iso(contact.erased_at),
            "merged_from": list(
                Contact.objects.filter(merged_into=contact).values_list("pk", flat=True)
            ),
        },
        "identities": [
            {
                "kind": i.kind,
                "value": i.value,
                "verified": i.verified,
                "created_at": _iso(i.created_at),
            }
            for i in contact.identities.all()
        ],
        "conversations": result_conversations,
    }
