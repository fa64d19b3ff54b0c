"""The agent inbox's conversation lists: views, filters, sort orders, keyset pages.

Every list is one indexed range scan: the cursor carries the sort key of the last
row shown, so page 1,000 costs what page 1 costs (no OFFSET). The indexes it relies
on are declared on Conversation (conv_status_recent, conv_status_waiting,
conv_assignee*, conv_team*, conv_inbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from conversations import access
from conversations.models import Channel, Conversation, Entry
from helpdesk.models import Agent

PAGE_SIZE = 25
VIEWS = ("mine", "unassigned", "all")
SORTS = ("waiting", "newest")
STATUSES = ("active", *Conversation.Status.values)


# The columns a row of the list shows (conversations/snippets/rows.html): not the
# contact's free-form attributes, nor the assignee's password hash, nor the dozen
# lifecycle timestamps the row never reads.
ROW_FIELDS = (
    "id",
    "contact_id",
    "assignee_id",
    "status",
    "priority",
    "subject",
    "first_channel",
    "last_inbound_channel",
    "waiting_since",
    "last_message_at",
    "contact__id",
    "contact__name",
    "assignee__id",
    "assignee__name",
    "assignee__email",
)


class BadCursor(ValueError):
    """The `after` parameter is not a cursor this module wrote."""


@dataclass
class ListQuery:
    view: str = "all"
    status: str = "active"
    sort: str = "waiting"
    team: int | None = None
    inbox: int | None = None
    channel: str = ""
    label: str = ""
    after: str = ""

    @classmethod
    def from_params(cls, params: dict[str, str]) -> ListQuery:
        def as_int(value: str | None) -> int | None:
            try:
                return int(value) if value else None
            except ValueError:
                return None

        view = params.get("view", "all")
        status = params.get("status", "active")
        sort = params.get("sort", "waiting")
        channel = params.get("channel", "")
        return cls(
            view=view if view in VIEWS else "all",
            status=status if status in STATUSES else "active",
            sort=sort if sort in SORTS else "waiting",
            team=as_int(params.get("team")),
            inbox=as_int(params.get("inbox")),
            channel=channel if channel in Channel.values else "",
            label=params.get("label", "")[:64],
            after=params.get("after", "")[:100],
        )

    def params(self, **changes: str | int | None) -> dict[str, str]:
        """Query-string parameters of this list, with some changed (for links)."""
        values: dict[str, str | int | None] = {
            "view": self.view,
            "status": self.status,
            "sort": self.sort,
            "team": self.team,
            "inbox": self.inbox,
            "channel": self.channel,
            "label": self.label,
        }
        values.update(changes)
        defaults = {"view": "all", "status": "active", "sort": "waiting"}
        return {
            k: str(v) for k, v in values.items() if v not in (None, "") and defaults.get(k) != v
        }


@dataclass
class Page:
    conversations: Sequence[Conversation]
    next_cursor: str = ""
    query: ListQuery = field(default_factory=ListQuery)


def filtered(agent: Agent, q: ListQuery) -> QuerySet[Conversation]:
    qs = access.conversations_for_agent(agent)
    if q.status == "active":
        qs = qs.filter(status__in=Conversation.ACTIVE_STATUSES)
    else:
        qs = qs.filter(status=q.status)
    if q.view == "mine":
        qs = qs.filter(assignee=agent)
    elif q.view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if q.team is not None:
        qs = qs.filter(team_id=q.team)
    if q.inbox is not None:
        qs = qs.filter(inbox_id=q.inbox)
    if q.channel:
        qs = qs.filter(Q(last_inbound_channel=q.channel) | Q(first_channel=q.channel))
    if q.label:
        qs = qs.filter(labels__name=q.label)
    return qs


def _decode(cursor: str) -> tuple[datetime | None, int]:
    stamp, _sep, pk = cursor.rpartition("_")
    try:
        conversation_id = int(pk)
    except ValueError:
        raise BadCursor(cursor) from None
    if stamp in ("", "-"):
        return None, conversation_id
    when = parse_datetime(stamp)
    if when is None or when.tzinfo is None:
        raise BadCursor(cursor)
    return when, conversation_id


def _encode(when: datetime | None, conversation_id: int) -> str:
    return f"{when.isoformat() if when else '-'}_{conversation_id}"


def page(agent: Agent, q: ListQuery, size: int = PAGE_SIZE) -> Page:
    """One page of a list; raises BadCursor on a forged or garbled `after`."""
    qs, key = page_queryset(agent, q, size)
    rows = list(qs)
    cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        cursor = _encode(getattr(rows[-1], key), rows[-1].pk)
    attach_labels(rows)
    return Page(rows, cursor, q)


def attach_labels(conversations: Sequence[Conversation]) -> None:
    """Set `label_list`, [(name, color), ...] by name, on each conversation: one
    query of plain values (prefetch_related built a manager and Label objects per
    row, a third of the list's query time)."""
    labels: dict[int, list[tuple[str, str]]] = {c.pk: [] for c in conversations}
    if labels:
        links = Conversation.labels.through.objects.filter(conversation_id__in=labels)
        for conversation_id, name, color in links.order_by("label__name").values_list(
            "conversation_id", "label__name", "label__color"
        ):
            labels[conversation_id].append((name, color))
    for c in conversations:
        c.label_list = labels[c.pk]  # type: ignore[attr-defined]


def page_queryset(
    agent: Agent, q: ListQuery, size: int = PAGE_SIZE
) -> tuple[QuerySet[Conversation], str]:
    """The page's query (one row more than `size`) and the name of its sort key."""
    qs = filtered(agent, q)
    last_message = (
        Entry.objects.filter(
            conversation=OuterRef("pk"), kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND)
        )
        .order_by("-occurred_at", "-id")
        .values("body")[:1]
    )
    if q.sort == "newest":
        if q.after:
            when, pk = _decode(q.after)
            if when is None:
                qs = qs.filter(last_message_at__isnull=True, id__lt=pk)
            else:
                qs = qs.filter(
                    Q(last_message_at__lt=when)
                    | Q(last_message_at=when, id__lt=pk)
                    | Q(last_message_at__isnull=True)
                )
        qs = qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")
        key = "last_message_at"
    else:
        # Longest waiting first; those not waiting for us (None) at the end.
        if q.after:
            when, pk = _decode(q.after)
            if when is None:
                qs = qs.filter(waiting_since__isnull=True, id__gt=pk)
            else:
                qs = qs.filter(
                    Q(waiting_since__gt=when)
                    | Q(waiting_since=when, id__gt=pk)
                    | Q(waiting_since__isnull=True)
                )
        qs = qs.order_by(F("waiting_since").asc(nulls_last=True), "id")
        key = "waiting_since"
    qs = (
        qs.select_related("contact", "assignee")
        .only(*ROW_FIELDS)
        .annotate(preview=Subquery(last_message))[: size + 1]
    )
    return qs, key


def counters(agent: Agent) -> dict[str, int]:
    """Open-work counters for the navigation, in one query over active conversations."""
    qs = access.conversations_for_agent(agent).filter(status__in=Conversation.ACTIVE_STATUSES)
    return qs.aggregate(
        mine=Count("pk", filter=Q(assignee=agent)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        all=Count("pk"),
    )


VIEW_LABELS = {
    "mine": _("Mine"),
    "unassigned": _("Unassigned"),
    "all": _("All"),
}
