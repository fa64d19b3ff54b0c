"""The contact's unified timeline: every entry of every conversation, in time order.

One index scan (entry_contact: contact, occurred_at, id) read backwards from the
newest entry, limited to a page, so a customer with ten years of history opens as
fast as a new one; "earlier" pages use the same keyset.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from conversations.models import Attachment, Contact, Conversation, Entry

TIMELINE_PAGE = 60


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass
class Segment:
    """A run of consecutive entries of one conversation."""

    conversation_id: int
    current: bool
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Timeline:
    segments: list[Segment]
    earlier_cursor: str  # '' when the start of history is shown
    last_entry_id: str  # public id of the newest entry, for live catch-up


def entries_queryset() -> QuerySet[Entry]:
    return Entry.objects.select_related("author").prefetch_related("attachments")


def page_queryset(contact: Contact, before: str = "") -> QuerySet[Entry]:
    """The newest TIMELINE_PAGE + 1 entries of a contact (before an entry, if given);
    their attachments come from attach_attachments()."""
    has_attachments = Exists(Attachment.objects.filter(entry=OuterRef("pk")))
    qs = (
        Entry.objects.select_related("author")
        .annotate(has_attachments=has_attachments)
        .filter(contact=contact)
    )
    before_id = _uuid(before)
    if before_id is not None:
        anchor = Entry.objects.filter(public_id=before_id, contact=contact).first()
        if anchor is not None:
            qs = qs.filter(
                Q(occurred_at__lt=anchor.occurred_at)
                | Q(occurred_at=anchor.occurred_at, id__lt=anchor.pk)
            )
    return qs.order_by("-occurred_at", "-id")[: TIMELINE_PAGE + 1]


def build(contact: Contact, current: Conversation, before: str = "") -> Timeline:
    rows = list(page_queryset(contact, before))
    earlier = ""
    if len(rows) > TIMELINE_PAGE:
        rows = rows[:TIMELINE_PAGE]
        earlier = str(rows[-1].public_id)
    rows.reverse()
    attach_attachments(rows)
    # Runs of other conversations before this one starts collapse, one block per run;
    # from this conversation's first entry on, everything stays inline in time order
    # (entries of other conversations then carry their number), so live entries can
    # always be appended at the end.
    segments: list[Segment] = []
    for entry in rows:
        if segments and segments[-1].current:
            segments[-1].entries.append(entry)
            continue
        is_current = entry.conversation_id == current.pk
        if not segments or is_current or segments[-1].conversation_id != entry.conversation_id:
            segments.append(Segment(entry.conversation_id, is_current))
        segments[-1].entries.append(entry)
    last = str(rows[-1].public_id) if rows else ""
    return Timeline(segments, earlier, last)


def attach_attachments(entries: list[Entry]) -> None:
    """Set `attachment_list` on each entry, in one query: what prefetch_related does,
    without building a related manager per entry. Entries annotated by
    page_queryset say whether they have any, so most pages need no query."""
    found: dict[int, list[Attachment]] = {e.pk: [] for e in entries}
    wanted = [e.pk for e in entries if getattr(e, "has_attachments", True)]
    if wanted:
        for attachment in Attachment.objects.filter(entry_id__in=wanted):
            found[attachment.entry_id].append(attachment)
    for entry in entries:
        entry.attachment_list = found[entry.pk]  # type: ignore[attr-defined]


def entries_after(conversation: Conversation, after: str, limit: int = 200) -> list[Entry]:
    """Entries of a conversation newer than the one the client saw last (catch-up).

    An unknown `after` (or none) returns the newest `limit` entries; the client
    drops ids it already shows, so a repeat never duplicates.
    """
    qs = entries_queryset().filter(conversation=conversation)
    after_id = _uuid(after)
    anchor = (
        Entry.objects.filter(public_id=after_id, conversation=conversation)
        .values("occurred_at", "id")
        .first()
        if after_id is not None
        else None
    )
    if anchor is not None:
        qs = qs.filter(
            Q(occurred_at__gt=anchor["occurred_at"])
            | Q(occurred_at=anchor["occurred_at"], id__gt=anchor["id"])
        )
        return list(qs.order_by("occurred_at", "id")[:limit])
    rows = list(qs.order_by("-occurred_at", "-id")[:limit])
    rows.reverse()
    return rows


def entries_by_public_ids(conversation: Conversation, ids: list[str]) -> list[Entry]:
    wanted = [u for u in (_uuid(i) for i in ids) if u is not None]
    if not wanted:
        return []
    return list(
        entries_queryset()
        .filter(conversation=conversation, public_id__in=wanted)
        .order_by("occurred_at", "id")
    )
