"""The fast bulk generator behind `seed_demo --conversations N --messages M`.

The one documented exception to "actions are the only writers": like a data
migration, it writes contacts, identities, conversations and timeline entries
directly (PostgreSQL COPY, or bulk_create on SQLite) because going through
record_inbound one message at a time would take hours for a million entries.
It computes every lifecycle field exactly as the actions would have left it,
so the rows are indistinguishable from real traffic for the pages, the search
and the KPI app:

- a contact has at most one active conversation (its latest), the others are
  resolved, because a new inbound message joins the open one;
- first_inbound_at / first_channel / last_inbound_at / last_inbound_channel come
  from the inbound entries, last_message_at from inbound and outbound ones;
- first_human_reply_at / human_reply_count from outbound entries with an author
  that are not automatic;
- waiting_since is the first inbound after the last human reply, kept only while
  the conversation is active and its last message is inbound; resolved_at is the
  time of the closing status_changed event;
- outbound entries carry delivery statuses (mostly delivered/read, some sent,
  a few failed with their delivery_failed event), inbound ones a provider id.

On PostgreSQL, loads of 50,000 entries or more drop the plain (non-unique)
indexes of the conversation and entry tables and rebuild them from their own
definitions at the end of the same transaction, as pg_restore does.

It allocates primary keys itself (after the current maximum) and resets the
sequences afterwards, so run it while nothing else writes to these tables (a
fresh database, as bench/run.py does).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from conversations.models import Channel, Contact, Conversation, Entry, Identity, IdentityKind
from helpdesk.models import Agent, Team

# Which identity a channel's messages come from.
CHANNEL_IDENTITY: dict[str, str] = {
    Channel.EMAIL: IdentityKind.EMAIL,
    Channel.CHAT: IdentityKind.CHAT,
    Channel.PHONE: IdentityKind.PHONE,
    Channel.SMS: IdentityKind.PHONE,
    Channel.WHATSAPP: IdentityKind.PHONE,
    Channel.MESSENGER: IdentityKind.MESSENGER,
    Channel.INSTAGRAM: IdentityKind.INSTAGRAM,
    Channel.TELEGRAM: IdentityKind.TELEGRAM,
    Channel.API: IdentityKind.API,
}
# How often customers pick each channel (weights).
CHANNEL_WEIGHTS: dict[str, int] = {
    Channel.EMAIL: 35,
    Channel.CHAT: 20,
    Channel.WHATSAPP: 15,
    Channel.PHONE: 8,
    Channel.SMS: 6,
    Channel.MESSENGER: 5,
    Channel.INSTAGRAM: 3,
    Channel.TELEGRAM: 3,
    Channel.API: 5,
}

FIRST_NAMES = (
    "Ana Marko Ivana Luka Petra Ivan Maja Josip Lucija Tomislav Katarina Filip Nina "
    "Matej Sara Emma Oliver Amelia Jack Olivia Harry Isla George Mia Noah Sophie Leo Grace"
).split()
LAST_NAMES = (
    "Horvat Kovačević Babić Marić Jurić Novak Kovačić Knežević Vuković Marković "
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Evans Thomas Roberts"
).split()
PRODUCTS = (
    "invoice order subscription router password account parcel refund delivery "
    "voucher app login card plan upgrade warranty charger headphones laptop modem"
).split()
CUSTOMER_LINES = (
    "Hi, my {p} still hasn't arrived and the tracking page shows nothing.",
    "Hello, I was charged twice for my {p} last week, can you check?",
    "I can't log in to my account since yesterday, the reset link never comes.",
    "Could you tell me when order {n} will be shipped?",
    "The {p} I received is damaged, the box was wet and the screen is cracked.",
    "Is it possible to change the delivery address for order {n}?",
    "I'd like a refund for the {p}, it does not work as described.",
    "Thanks, that fixed it! Have a nice day.",
    "Still not working, I tried restarting the {p} three times.",
    "Can I upgrade my plan without losing the discount?",
    "Where can I download the invoice for {n}?",
    "Bok, trebam pomoć oko narudžbe {n}, paket nije stigao.",
    "Pozdrav, račun za {p} nije točan, naplaćeno je dvaput.",
    "Hvala na brzom odgovoru!",
    "When will the warranty replacement for my {p} be sent?",
    "Your courier left the {p} with a neighbour I don't know.",
)
AGENT_LINES = (
    "Thanks for reaching out! I've checked order {n} and it leaves our warehouse today.",
    "Sorry about that. I've refunded the duplicate charge; it shows in 3-5 working days.",
    "I've sent a new password reset link, please check your spam folder too.",
    "Could you send a photo of the damaged {p}? We'll ship a replacement right away.",
    "The delivery address is updated; you'll get a new tracking number by e-mail.",
    "Your invoice is available under Account > Billing > Invoices.",
    "I've escalated this to our technical team and will update you tomorrow.",
    "Yes, you can upgrade any time and keep the discount for the current year.",
    "Hvala na strpljenju, zamjenski {p} šaljemo danas.",
    "Happy to help! Is there anything else I can do for you?",
    "Please try unplugging the {p} for 30 seconds, then plug it back in.",
)
NOTE_LINES = (
    "Customer is a reseller, check the B2B price list before promising a discount.",
    "Second complaint about the courier this month; flagged to logistics.",
    "Refund approved by finance, ticket FIN-{n}.",
    "Asked twice already, please answer quickly.",
)
AUTO_LINE = "Thanks for your message! We usually answer within one working hour."
FAIL_REASONS = ("the recipient's mailbox is full", "number is not reachable on WhatsApp")


@dataclass
class BulkReport:
    contacts: int = 0
    identities: int = 0
    conversations: int = 0
    entries: int = 0
    seconds: float = 0.0


@dataclass
class _Workspace:
    agents_by_team: dict[int, list[int]]
    team_ids: list[int]
    inbox_for_channel: dict[str, int | None]
    agent_names: dict[int, tuple[str, str]]
    team_names: dict[int, str]
    channels: list[str]
    weights: list[int]


def _progress(out: TextIO | None, label: str, done: int, total: int, started: float) -> None:
    if out is None:
        return
    width = 30
    filled = int(width * done / total) if total else width
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    out.write(
        f"\r{label:<13} [{'#' * filled}{'.' * (width - filled)}] {done:>9}/{total} "
        f"{100 * done / max(total, 1):5.1f}% {rate:,.0f}/s {elapsed:6.1f}s"
    )
    if done >= total:
        out.write("\n")
    out.flush()


class _Ids:
    """Primary keys handed out after the current maximum of a table."""

    def __init__(self, model: type[models.Model]) -> None:
        current = model._default_manager.aggregate(m=models.Max("pk"))["m"] or 0
        self.next = int(current) + 1

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value


class _Writer:
    """Rows of one model, buffered and flushed with COPY (PostgreSQL) or bulk_create."""

    def __init__(self, model: type[models.Model], batch: int = 20_000) -> None:
        self.model = model
        self.batch = batch
        self.fields = [
            f
            for f in model._meta.concrete_fields
            if not getattr(f, "generated", False)  # GeneratedField: the database computes it
        ]
        self.rows: list[dict[str, Any]] = []
        self.written = 0
        self.postgres = connection.vendor == "postgresql"

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self.postgres:
            self._copy()
        else:
            self.model._default_manager.bulk_create([self.model(**row) for row in self.rows])
        self.written += len(self.rows)
        self.rows = []

    def _copy(self) -> None:
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in self.fields)
        # Fields a row leaves out take their default, computed once per batch.
        defaults = [(f.attname, f.get_default()) for f in self.fields]
        raw = connection.connection  # the psycopg connection under Django's
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            for row in self.rows:
                write(
                    [
                        json.dumps(v) if isinstance(v, dict | list) else v
                        for v in (row.get(name, default) for name, default in defaults)
                    ]
                )


class _DeferredIndexes:
    """pg_restore's trick for big loads: drop the plain (non-unique, non-constraint)
    indexes of a table before COPY and build them again after, in the same
    transaction, from their own definitions. Building a btree or GIN index once is
    far cheaper than updating it for every row; unique indexes and constraints stay,
    so the load is still checked. PostgreSQL only."""

    def __init__(self, models_: list[type[models.Model]]) -> None:
        self.tables = [m._meta.db_table for m in models_]
        self.definitions: list[str] = []

    def __enter__(self) -> _DeferredIndexes:
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i WHERE i.indrelid = %s::regclass "
                    "AND NOT i.indisunique AND NOT i.indisprimary "
                    "AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                    [table],
                )
                for name, definition in cursor.fetchall():
                    self.definitions.append(definition)
                    cursor.execute(f"DROP INDEX {name}")
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return  # the transaction rolls back, indexes included
        with connection.cursor() as cursor:
            # Run the deferred foreign key checks now: CREATE INDEX refuses a table
            # with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for definition in self.definitions:
                cursor.execute(definition)


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


def _split(total: int, parts: int, rnd: random.Random) -> list[int]:
    """`total` entries over `parts` conversations, each >= 1, skewed like real traffic."""
    if parts <= 0:
        return []
    if total < parts:
        raise ValueError("--messages must be at least --conversations")
    avg = total / parts
    counts = [max(1, int(rnd.expovariate(1 / avg)) + 1) for _ in range(parts)]
    diff = total - sum(counts)
    while diff != 0:
        i = rnd.randrange(parts)
        if diff > 0:
            step = min(diff, max(1, int(avg)))
            counts[i] += step
            diff -= step
        elif counts[i] > 1:
            step = min(-diff, counts[i] - 1)
            counts[i] -= step
            diff += step
    return counts


def _text(lines: tuple[str, ...], rnd: random.Random) -> str:
    n = rnd.randrange(10_000, 99_999)
    first = rnd.choice(lines).format(p=rnd.choice(PRODUCTS), n=n)
    if rnd.random() < 0.3:
        return first + " " + rnd.choice(lines).format(p=rnd.choice(PRODUCTS), n=n)
    return first


def _workspace(rnd: random.Random) -> _Workspace:
    """Teams and agents to assign to, and an inbox per channel where one can exist."""
    from conversations import demo

    teams = [Team.objects.get_or_create(name=name)[0] for name in ("Support", "Sales")]
    agents_by_team: dict[int, list[int]] = {}
    for team in teams:
        members = list(team.members.filter(is_active=True).values_list("pk", flat=True))
        if not members:
            for i in range(3):
                email = f"{team.name.lower()}{i + 1}@bulk.example.com"
                agent = Agent.objects.filter(email=email).first() or Agent.objects.create_user(
                    email, None, name=f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}"
                )
                team.members.add(agent)
                members.append(agent.pk)
        agents_by_team[team.pk] = members
    inbox_for_channel = demo.inboxes_by_channel(prefix="bulk", team_ids=[t.pk for t in teams])
    channels = list(CHANNEL_WEIGHTS)
    agent_names = {
        a.pk: (a.email, a.display_name)
        for a in Agent.objects.filter(pk__in=[p for ids in agents_by_team.values() for p in ids])
    }
    return _Workspace(
        agent_names=agent_names,
        team_names={t.pk: t.name for t in teams},
        agents_by_team=agents_by_team,
        team_ids=[t.pk for t in teams],
        inbox_for_channel=inbox_for_channel,
        channels=channels,
        weights=[CHANNEL_WEIGHTS[c] for c in channels],
    )


def _identity_value(kind: str, contact_id: int, rnd: random.Random) -> str:
    if kind == IdentityKind.EMAIL:
        first = rnd.choice(FIRST_NAMES).lower()
        return f"{first}.{contact_id}@example.com"
    if kind == IdentityKind.PHONE:
        # +1 NXX then seven digits: valid E.164 and unique per contact id.
        return f"+1{200 + (contact_id // 10_000_000) % 800}{contact_id % 10_000_000:07d}"
    return f"{kind}-{contact_id}"


@dataclass
class _Conv:
    id: int
    contact_id: int
    channels: list[str]
    count: int
    start: datetime
    final: str  # the status it ends in
    row: dict[str, Any] = field(default_factory=dict)


def generate(
    conversations: int,
    messages: int,
    *,
    seed: int = 1,
    days: int = 90,
    out: TextIO | None = sys.stderr,
) -> BulkReport:
    """Write `conversations` conversations holding `messages` timeline entries in total."""
    if conversations < 1:
        raise ValueError("--conversations must be at least 1")
    started = time.monotonic()
    rnd = random.Random(seed)  # noqa: S311 - fake data, reproducible by --seed
    now = timezone.now()
    ws = _workspace(rnd)
    counts = _split(messages, conversations, rnd)
    n_contacts = max(1, int(conversations * 0.6))
    report = BulkReport()

    with transaction.atomic():
        contact_ids = _Ids(Contact)
        conv_ids = _Ids(Conversation)
        entry_ids = _Ids(Entry)
        identity_ids = _Ids(Identity)
        contacts_w = _Writer(Contact)
        identities_w = _Writer(Identity)
        conv_w = _Writer(Conversation, batch=10_000)
        entries_w = _Writer(Entry, batch=20_000)

        # Contacts and their identities; each contact reaches us on 1-3 channels.
        contact_channels: dict[int, list[str]] = {}
        first_contact = contact_ids.next
        for i in range(n_contacts):
            cid = contact_ids.take()
            created = now - timedelta(days=days + 1, seconds=rnd.randrange(86_400))
            contacts_w.add(
                {
                    "id": cid,
                    "public_id": _uuid(rnd),
                    "name": f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}",
                    "attributes": {},
                    "created_at": created,
                    "updated_at": created,
                }
            )
            k = 1 if rnd.random() < 0.5 else rnd.choice((2, 2, 3))
            chans = list(dict.fromkeys(rnd.choices(ws.channels, weights=ws.weights, k=k)))
            contact_channels[cid] = chans
            kinds = {CHANNEL_IDENTITY[c] for c in chans}
            if rnd.random() < 0.7:
                kinds.add(IdentityKind.EMAIL)
            for kind in sorted(kinds):
                identities_w.add(
                    {
                        "id": identity_ids.take(),
                        "contact_id": cid,
                        "kind": kind,
                        "value": _identity_value(kind, cid, rnd),
                        "verified": kind == IdentityKind.EMAIL and rnd.random() < 0.3,
                        "created_at": created,
                    }
                )
            if i % 5000 == 0:
                _progress(out, "contacts", i, n_contacts, started)
        contacts_w.flush()
        identities_w.flush()
        _progress(out, "contacts", n_contacts, n_contacts, started)

        # Conversations: a contact's conversations follow one another in time; only
        # the latest may still be active.
        by_contact: dict[int, list[int]] = {}
        for index in range(conversations):
            by_contact.setdefault(first_contact + index % n_contacts, []).append(index)
        plan: list[_Conv] = []
        for cid, indexes in by_contact.items():
            span = days * 86_400 / len(indexes)
            for order, index in enumerate(indexes):
                last = order == len(indexes) - 1
                start = now - timedelta(
                    seconds=days * 86_400 - order * span - rnd.uniform(0, span * 0.5)
                )
                final: str = Conversation.Status.RESOLVED
                if last:
                    final = rnd.choices(Conversation.Status.values, weights=(25, 12, 5, 58), k=1)[0]
                chans = contact_channels[cid]
                if len(chans) > 1 and rnd.random() < 0.6:
                    chans = rnd.sample(chans, k=len(chans))
                else:
                    chans = [rnd.choice(chans)]
                plan.append(_Conv(conv_ids.take(), cid, chans, counts[index], start, final))

        done = 0
        with _deferred_indexes([Conversation, Entry], big=messages >= DEFER_INDEXES_FROM):
            for n, conv in enumerate(plan):
                _write_conversation(conv, ws, rnd, now, entry_ids, entries_w)
                conv_w.add(conv.row)
                done += conv.count
                if n % 2000 == 0:
                    _progress(out, "entries", done, messages, started)
            conv_w.flush()
            entries_w.flush()
            _progress(out, "entries", messages, messages, started)
            if (
                out is not None
                and connection.vendor == "postgresql"
                and messages >= DEFER_INDEXES_FROM
            ):
                out.write("building indexes...\n")
                out.flush()
        _reset_sequences()

    report.contacts = contacts_w.written
    report.identities = identities_w.written
    report.conversations = conv_w.written
    report.entries = entries_w.written
    report.seconds = time.monotonic() - started
    return report


# Loads at least this big drop and rebuild plain indexes (PostgreSQL).
DEFER_INDEXES_FROM = 50_000


def _deferred_indexes(models_: list[type[models.Model]], *, big: bool) -> Any:
    if big and connection.vendor == "postgresql":
        return _DeferredIndexes(models_)
    return contextlib.nullcontext()


def _reset_sequences() -> None:
    sql = connection.ops.sequence_reset_sql(no_style(), [Contact, Identity, Conversation, Entry])
    if sql:
        with connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)


def _write_conversation(
    conv: _Conv,
    ws: _Workspace,
    rnd: random.Random,
    now: datetime,
    entry_ids: _Ids,
    writer: _Writer,
) -> None:
    """Lay out one conversation's entries and compute its lifecycle fields as actions do."""
    team_id = rnd.choice(ws.team_ids)
    assignee = rnd.choice(ws.agents_by_team[team_id]) if rnd.random() < 0.85 else None
    at = conv.start
    budget = conv.count
    status: str = conv.final
    if budget < 2 and status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
        status = Conversation.Status.OPEN  # waiting for our reply: no reply yet
    # Timeline items: (kind, channel, ...). Reserve the closing event of a resolved one.
    closing = 1 if status == Conversation.Status.RESOLVED and budget >= 2 else 0
    assign_event = 1 if assignee is not None and budget - closing >= 3 else 0
    body_slots = budget - closing - assign_event

    channel_idx = 0
    channel = conv.channels[0]
    first_inbound_at: datetime | None = None
    last_inbound_at: datetime | None = None
    last_inbound_channel = ""
    last_message_at: datetime | None = None
    first_human_reply_at: datetime | None = None
    human_replies = 0
    waiting_since: datetime | None = None
    last_msg_kind = ""
    last_auto = False
    rows: list[dict[str, Any]] = []

    def entry(kind: str, when: datetime, **values: Any) -> dict[str, Any]:
        eid = entry_ids.take()
        row = {
            "id": eid,
            "public_id": _uuid(rnd),
            "conversation_id": conv.id,
            "contact_id": conv.contact_id,
            "kind": kind,
            "channel": "",
            "inbox_id": None,
            "author_id": None,
            "subject": "",
            "body": "",
            "html": "",
            "provider_id": None,
            "client_id": None,
            "delivery_status": "",
            "delivery_error": "",
            "attempts": 0,
            "is_auto": False,
            "event": "",
            "parameters": {},
            "occurred_at": when,
            "created_at": when,
            **values,
        }
        rows.append(row)
        return row

    slot = 0
    while slot < body_slots:
        # Who speaks: always the customer first; then mostly alternate. A pending or
        # snoozed conversation ends with our reply (the ball is in the customer's
        # court; a customer message would have reopened it).
        last_slot = slot == body_slots - 1
        if slot == 0:
            kind = Entry.Kind.INBOUND
        elif last_slot and status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
            kind = Entry.Kind.OUTBOUND
        elif rnd.random() < 0.06 and not last_slot:
            kind = Entry.Kind.NOTE
        elif last_msg_kind == Entry.Kind.INBOUND:
            kind = Entry.Kind.OUTBOUND if rnd.random() < 0.8 else Entry.Kind.INBOUND
        else:
            kind = Entry.Kind.INBOUND if rnd.random() < 0.75 else Entry.Kind.OUTBOUND
        if kind == Entry.Kind.INBOUND:
            at += timedelta(seconds=rnd.randrange(120, 3 * 86_400) if slot else 0)
            # Some customers switch channel half way (e-mail, then chat, then phone...).
            if slot and len(conv.channels) > 1 and rnd.random() < 0.25:
                channel_idx = (channel_idx + 1) % len(conv.channels)
                channel = conv.channels[channel_idx]
            row = entry(
                Entry.Kind.INBOUND,
                at,
                channel=channel,
                inbox_id=ws.inbox_for_channel.get(channel),
                body=_text(CUSTOMER_LINES, rnd),
                subject="Re: your order" if channel == Channel.EMAIL else "",
            )
            row["provider_id"] = f"bulk-in-{row['id']}"
            first_inbound_at = first_inbound_at or at
            last_inbound_at, last_inbound_channel = at, channel
            last_message_at = at
            if waiting_since is None:
                waiting_since = at
            last_msg_kind, last_auto = kind, False
        elif kind == Entry.Kind.OUTBOUND:
            at += timedelta(seconds=rnd.randrange(60, 8 * 3600))
            reply_channel = last_inbound_channel or channel
            auto = slot == 1 and not last_slot and rnd.random() < 0.15
            author = None if auto else (assignee or rnd.choice(ws.agents_by_team[team_id]))
            delivery = rnd.choices(("delivered", "read", "sent", "failed"), (50, 30, 19, 1))[0]
            if delivery == "failed" and last_slot:
                delivery = "delivered"  # its delivery_failed event needs a slot of its own
            row = entry(
                Entry.Kind.OUTBOUND,
                at,
                channel=reply_channel,
                inbox_id=ws.inbox_for_channel.get(reply_channel),
                author_id=author,
                body=AUTO_LINE if auto else _text(AGENT_LINES, rnd),
                delivery_status=delivery,
                attempts=1,
                is_auto=auto,
            )
            last_message_at = at
            last_msg_kind, last_auto = kind, auto
            if not auto:
                human_replies += 1
                first_human_reply_at = first_human_reply_at or at
                waiting_since = None
            if delivery == "failed":
                reason = rnd.choice(FAIL_REASONS)
                row["delivery_error"] = reason
                slot += 1
                entry(
                    Entry.Kind.EVENT,
                    at + timedelta(seconds=rnd.randrange(1, 60)),
                    event="delivery_failed",
                    channel=reply_channel,
                    parameters={"entry": str(row["public_id"]), "reason": reason},
                )
            else:
                row["provider_id"] = f"bulk-out-{row['id']}"
        else:
            at += timedelta(seconds=rnd.randrange(30, 1800))
            entry(
                Entry.Kind.NOTE,
                at,
                author_id=assignee or rnd.choice(ws.agents_by_team[team_id]),
                body=_text(NOTE_LINES, rnd),
            )
        if slot == 0 and assign_event and assignee is not None:
            at += timedelta(seconds=rnd.randrange(10, 600))
            email, name = ws.agent_names[assignee]
            entry(
                Entry.Kind.EVENT,
                at,
                event="assigned",
                parameters={
                    "assignee": email,
                    "assignee_name": name,
                    "team": ws.team_names[team_id],
                },
            )
        slot += 1

    resolved_at: datetime | None = None
    if closing:
        at += timedelta(seconds=rnd.randrange(60, 86_400))
        resolved_at = at
        waiting_since = None
        entry(
            Entry.Kind.EVENT,
            at,
            event="status_changed",
            author_id=assignee,
            parameters={"from": "open", "to": "resolved"},
        )
    elif status == Conversation.Status.RESOLVED:
        # A one-entry conversation: resolved without a reply (spam, "thanks!").
        resolved_at = at + timedelta(minutes=5)
        waiting_since = None
    if last_msg_kind == Entry.Kind.OUTBOUND and not last_auto:
        waiting_since = None

    # Everything must lie in the past: shift a conversation that ran over "now".
    shift = timedelta(0)
    end = resolved_at or at
    if end > now - timedelta(minutes=1):
        shift = end - now + timedelta(minutes=rnd.randrange(1, 600))
    for row in rows:
        if shift:
            row["occurred_at"] -= shift
            row["created_at"] = row["occurred_at"]
        writer.add(row)

    def back(value: datetime | None) -> datetime | None:
        return value - shift if value is not None else None

    snoozed_until = None
    if status == Conversation.Status.SNOOZED:
        snoozed_until = now + timedelta(hours=rnd.randrange(1, 72))
    first_at = rows[0]["occurred_at"]
    conv.row = {
        "id": conv.id,
        "public_id": _uuid(rnd),
        "contact_id": conv.contact_id,
        "inbox_id": ws.inbox_for_channel.get(conv.channels[0]),
        "team_id": team_id,
        "assignee_id": assignee,
        "status": status,
        "priority": rnd.choices(Conversation.Priority.values, weights=(10, 70, 15, 5))[0],
        "subject": "",
        "first_channel": conv.channels[0],
        "first_inbound_at": back(first_inbound_at),
        "first_human_reply_at": back(first_human_reply_at),
        "last_message_at": back(last_message_at),
        "last_inbound_at": back(last_inbound_at),
        "last_inbound_channel": last_inbound_channel,
        "waiting_since": back(waiting_since),
        "resolved_at": back(resolved_at),
        "snoozed_until": snoozed_until,
        "reopened_count": 0,
        "human_reply_count": human_replies,
        "created_at": first_at,
        "updated_at": rows[-1]["occurred_at"],
    }


def describe(report: BulkReport) -> str:
    buf = io.StringIO()
    rate = report.entries / report.seconds if report.seconds else 0
    buf.write(
        f"created {report.contacts} contacts, {report.identities} identities, "
        f"{report.conversations} conversations and {report.entries} timeline entries "
        f"in {report.seconds:.1f}s ({rate:,.0f} entries/s)"
    )
    return buf.getvalue()
