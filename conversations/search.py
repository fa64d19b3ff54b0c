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

from django.db import connection
from django.db.models import Q, QuerySet

from conversations import access
from conversations.identities import InvalidIdentity, normalize_phone
from conversations.models import Contact, Conversation, Entry, Identity, IdentityKind
from helpdesk.models import Agent

LIMIT = 20
# The expression the GIN index was built on; the query must use it verbatim.
FTS_MATCH = "to_tsvector('simple', conversations_entry.body) @@ plainto_tsquery('simple', %s)"
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
        return qs.extra(where=[FTS_MATCH], params=[text])  # noqa: S610 - parameterized
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
        entries = entries.filter(conversation__in=access.conversations_for_agent(agent))
    return entries.select_related("contact", "conversation", "author").order_by(
        "-occurred_at", "-id"
    )[:LIMIT]
