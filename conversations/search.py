"""One search box: message text, contact names, e-mails, phones, conversation numbers.

PostgreSQL: full-text search over entry bodies through the GIN index
`entry_body_fts` on to_tsvector('simple', body) (migration 0004), and pg_trgm GIN
indexes on UPPER(name) and UPPER(value), the expression Django's icontains compiles
to, for contact names and identity values (migration 0007). SQLite: the same
questions with LIKE, correct but unindexed; fine for the embedded default's sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from conversations import access
from conversations.identities import InvalidIdentity, normalize_phone
from conversations.models import Contact, Conversation, Entry, Identity, IdentityKind
from helpdesk.models import Agent

LIMIT = 20
# How many of the newest entries a search tests one by one before it asks the GIN
# index instead (see _newest_hit_ids).
RECENT_WINDOW = 2000


class BodyMatches(Func):
    """to_tsvector('simple', body) @@ plainto_tsquery('simple', text): the expression
    the GIN index entry_body_fts was built on, verbatim, so the planner can use it.
    An expression rather than .extra(where=...) so the column is qualified with the
    right alias when the query becomes a subquery."""

    output_field = BooleanField()

    def __init__(self, text: str) -> None:
        super().__init__(F("body"), Value(text))

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        body, query = self.get_source_expressions()
        body_sql, body_params = compiler.compile(body)
        query_sql, query_params = compiler.compile(query)
        sql = f"to_tsvector('simple', {body_sql}) @@ plainto_tsquery('simple', {query_sql})"
        return sql, [*body_params, *query_params]


_NUMBER_RE = re.compile(r"^#?(\d{1,12})$")


@dataclass
class Results:
    text: str
    conversation: Conversation | None = None
    contacts: list[Contact] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.conversation is None and not self.contacts and not self.entries


def message_matches(text: str) -> QuerySet[Entry]:
    """Entries whose body contains the words of `text` (every word, any order)."""
    qs = Entry.objects.filter(kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND, Entry.Kind.NOTE))
    if connection.vendor == "postgresql":
        return qs.filter(BodyMatches(text))
    words = [w for w in re.split(r"\W+", text) if w]
    if not words:
        return qs.none()
    query = Q()
    for word in words[:8]:
        query &= Q(body__icontains=word)
    return qs.filter(query)


def contact_matches(text: str) -> QuerySet[Contact]:
    """Contacts by name, e-mail or phone fragment (trigram-indexed on PostgreSQL)."""
    value_query = Q(value__icontains=text)
    digits = re.sub(r"[^\d+]", "", text)
    if len(digits.lstrip("+")) >= 6:
        try:
            value_query |= Q(kind=IdentityKind.PHONE, value=normalize_phone(text))
        except InvalidIdentity:
            value_query |= Q(value__contains=digits.lstrip("+"))
    name_ids = Contact.objects.filter(name__icontains=text).order_by().values("pk")
    value_ids = Identity.objects.filter(value_query).order_by().values("contact_id")
    # One IN over a UNION, not an OR of two INs: with the OR, PostgreSQL walks every
    # contact testing both; with the union it looks up only the few matched ids.
    return Contact.objects.filter(pk__in=name_ids.union(value_ids), merged_into__isnull=True)


def search(agent: Agent, text: str) -> Results:
    text = text.strip()[:200]
    results = Results(text)
    if not text:
        return results
    visible = access.conversations_for_agent(agent)
    number = _NUMBER_RE.match(text)
    if number:
        results.conversation = (
            visible.select_related("contact").filter(pk=int(number.group(1))).first()
        )
    if len(text) >= 2:
        contacts = contact_matches(text)
        if not agent.sees_all_teams:
            contacts = contacts.filter(pk__in=visible.values("contact_id"))
        results.contacts = list(contacts.prefetch_related("identities").order_by("-id")[:LIMIT])
    results.entries = list(entries_queryset(agent, text))
    return results


def entries_queryset(agent: Agent, text: str) -> QuerySet[Entry]:
    """The message hits the agent may see, newest first, one page."""
    entries = message_matches(text)
    if not agent.sees_all_teams:
        entries = entries.filter(access.conversation_visibility(agent, "conversation__"))
    if connection.vendor == "postgresql":
        entries = Entry.objects.filter(pk__in=_newest_hit_ids(entries))
    return entries.select_related("contact", "conversation", "author").order_by(
        "-occurred_at", "-id"
    )[:LIMIT]


def _newest_hit_ids(hits: QuerySet[Entry]) -> QuerySet[Any]:
    """The ids of the newest LIMIT `hits`, fast for common and for rare words alike.

    Reading entries newest first and testing each stops after a page for a common
    word, but for a rare one reads the whole table (34 s for a word in no message at
    1M entries); the GIN index answers a rare word at once, but for a common one
    fetches and sorts 100,000 hits. So: first test only the newest RECENT_WINDOW
    entries, in order; only if they hold fewer than a page of hits does PostgreSQL
    run the second branch, the GIN index over the older ones (the word is rare
    then). UNION ALL under a LIMIT runs its branches in order and stops early.
    """
    boundary = Coalesce(
        Subquery(
            Entry.objects.order_by("-occurred_at", "-id").values("occurred_at")[
                RECENT_WINDOW - 1 : RECENT_WINDOW
            ]
        ),
        Value(datetime.min.replace(tzinfo=UTC)),
    )
    recent = hits.filter(occurred_at__gte=boundary).order_by("-occurred_at", "-id")
    # Ordering by an expression no index provides makes the planner fetch the hits
    # through the GIN index and sort them, instead of walking entry_recent.
    older = hits.filter(occurred_at__lt=boundary).order_by(
        (F("occurred_at") + Value(timedelta(0))).desc(), "-id"
    )
    return recent.values("pk")[:LIMIT].union(older.values("pk")[:LIMIT], all=True)[:LIMIT]
