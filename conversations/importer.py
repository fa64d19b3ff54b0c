"""History import from another help desk: JSON Lines as IMPORT_FORMAT.md specifies.

This is the one deliberate exception to "actions are the only writers", like a data
migration: to load 2,000+ conversations per second it writes the models directly,
with bulk operations, a batch of lines per transaction and a fallback to one
transaction per line when a batch fails. The result must equal what the live actions
produce: the lifecycle timestamps are derived by replaying the entries in time order
with the same rules as conversations.actions (first inbound, first human reply,
reopen on a customer message to a resolved conversation, last resolution, human
reply count, waiting_since), the timeline gets the same event entries
(status_changed, reopened, assigned, priority_changed, channel_switched,
survey_answered), identities are normalized with conversations.identities.normalize
and a contact known by any identity is reused.

Import is idempotent on external_id: an unchanged line is skipped (by a digest of
the line), a changed line replaces that conversation's timeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from queue import Full, Queue
from typing import IO, Any, TypeVar

from django.db import connection, transaction
from django.db.models import AutoField, BigAutoField, Model
from django.utils import timezone

from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.models import (
    Channel,
    Contact,
    Conversation,
    Entry,
    Identity,
    IdentityKind,
    Label,
)
from helpdesk.models import Agent, Team
from kpi.models import SCORE_RANGES, ImportedConversation, KpiDirty, SurveyResponse

# Lines per transaction. Each batch costs about twenty round trips whatever its size,
# and on a busy machine every round trip waits for the database to be scheduled; a
# batch that fails is retried line by line, which is rare (lines are validated first).
BATCH_SIZE = 2000
STATUSES = {s.value for s in Conversation.Status}
PRIORITIES = {p.value for p in Conversation.Priority}
EVENTS = {"resolved", "reopened", "assigned", "snoozed", "priority"}
# Enum .values walks the members on every call: once per entry adds up to seconds.
CHANNELS = frozenset(Channel.values)
IDENTITY_KINDS = frozenset(IdentityKind.values)
AutoFieldTypes = (AutoField, BigAutoField)
T = TypeVar("T")


class ImportLineError(ValueError):
    """A line that can't be imported; the message says why."""


# --- parsing and validation ----------------------------------------------------------


@dataclass(slots=True)
class ImportEntry:
    index: int
    kind: str
    at: datetime
    channel: str = ""
    body: str = ""
    author: str = ""
    is_auto: bool = False
    event: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    survey: str = ""
    score: int = 0
    comment: str = ""


@dataclass(slots=True)
class ImportConversation:
    line: int
    digest: str
    external_id: str
    name: str
    identities: list[IdentityRef]
    attributes: dict[str, Any]
    status: str
    team: str
    assignee: str
    priority: str
    labels: list[str]
    created_at: datetime
    entries: list[ImportEntry]
    replayed: Replayed | None = None  # filled in ahead of writing, by prepare_line


def _when(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ImportLineError(f"{where}: a time is required (ISO 8601 with an offset)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportLineError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ImportLineError(f"{where}: {value!r} has no UTC offset")
    return moment


def _text(data: dict[str, Any], key: str, where: str, limit: int = 0) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportLineError(f"{where}.{key} must be a string")
    if limit and len(value) > limit:
        raise ImportLineError(f"{where}.{key} is longer than {limit} characters")
    return value


def _channel(data: dict[str, Any], where: str, required: bool) -> str:
    channel = _text(data, "channel", where)
    if not channel:
        if required:
            raise ImportLineError(f"{where} needs a channel")
        return ""
    if channel not in CHANNELS:
        raise ImportLineError(f"{where}: unknown channel {channel!r}")
    return channel


def _entry(index: int, raw: Any) -> ImportEntry:
    where = f"entries[{index}]"
    if not isinstance(raw, dict):
        raise ImportLineError(f"{where} must be an object")
    kind = raw.get("kind")
    at = _when(raw.get("at"), f"{where}.at")
    if kind == "inbound":
        return ImportEntry(
            index,
            kind,
            at,
            channel=_channel(raw, where, True),
            body=_text(raw, "body", where),
            is_auto=bool(raw.get("auto", False)),
        )
    if kind == "outbound":
        author = _text(raw, "author", where).strip().lower()
        if not author:
            raise ImportLineError(f"{where}: an outbound entry needs an author")
        return ImportEntry(
            index,
            kind,
            at,
            channel=_channel(raw, where, True),
            body=_text(raw, "body", where),
            author=author,
            is_auto=bool(raw.get("auto", False)),
        )
    if kind == "note":
        return ImportEntry(
            index, kind, at, body=_text(raw, "body", where), author=_author(raw, where)
        )
    if kind == "event":
        event = raw.get("event")
        if event not in EVENTS:
            raise ImportLineError(
                f"{where}: unknown event {event!r}; expected one of {', '.join(sorted(EVENTS))}"
            )
        parameters = raw.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ImportLineError(f"{where}.parameters must be an object")
        if event == "priority" and parameters.get("priority") not in PRIORITIES:
            raise ImportLineError(f"{where}: a priority event needs parameters.priority")
        if event == "assigned":
            assignee = parameters.get("assignee")
            if assignee is not None and not isinstance(assignee, str):
                raise ImportLineError(f"{where}: parameters.assignee must be an e-mail")
        return ImportEntry(
            index,
            kind,
            at,
            event=event,
            parameters=parameters,
            author=_author(raw, where),
            channel=_channel(raw, where, False),
        )
    if kind == "survey":
        survey = raw.get("survey")
        if survey not in SCORE_RANGES:
            raise ImportLineError(f"{where}: survey must be csat or nps, got {survey!r}")
        score = raw.get("score")
        low, high = SCORE_RANGES[survey]
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise ImportLineError(
                f"{where}: a {survey} score is a whole number from {low} to {high}, got {score!r}"
            )
        return ImportEntry(
            index,
            kind,
            at,
            survey=survey,
            score=score,
            comment=_text(raw, "comment", where),
            channel=_channel(raw, where, False),
        )
    raise ImportLineError(
        f"{where}: unknown kind {kind!r}; expected inbound, outbound, note, event or survey"
    )


def _author(raw: dict[str, Any], where: str) -> str:
    return _text(raw, "author", where).strip().lower()


# A contact's identities come back on every line of its history: normalize each once.
_normalize = lru_cache(maxsize=65536)(normalize)


def parse_line(line_number: int, text: str) -> ImportConversation:
    """Validate one line; raises ImportLineError with the reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportLineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ImportLineError("a line must be a JSON object")
    external_id = data.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        raise ImportLineError("external_id is required")
    if len(external_id) > 200:
        raise ImportLineError("external_id is longer than 200 characters")
    contact = data.get("contact")
    if not isinstance(contact, dict):
        raise ImportLineError("contact is required")
    raw_identities = contact.get("identities")
    if not isinstance(raw_identities, list) or not raw_identities:
        raise ImportLineError("contact.identities needs at least one identity")
    identities: list[IdentityRef] = []
    for i, raw in enumerate(raw_identities):
        if not isinstance(raw, dict):
            raise ImportLineError(f"contact.identities[{i}] must be an object")
        kind, value = raw.get("kind"), raw.get("value")
        if kind not in IDENTITY_KINDS:
            raise ImportLineError(f"contact.identities[{i}]: unknown kind {kind!r}")
        try:
            ref = _normalize(str(kind), str(value or ""))
        except InvalidIdentity as exc:
            raise ImportLineError(f"contact.identities[{i}]: {exc}") from None
        if ref not in identities:
            identities.append(ref)
    attributes = contact.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ImportLineError("contact.attributes must be an object")
    status = data.get("status", "open")
    if status not in STATUSES:
        raise ImportLineError(f"unknown status {status!r}")
    priority = data.get("priority") or "normal"
    if priority not in PRIORITIES:
        raise ImportLineError(f"unknown priority {priority!r}")
    labels = data.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ImportLineError("labels must be a list of strings")
    raw_entries = data.get("entries") or []
    if not isinstance(raw_entries, list):
        raise ImportLineError("entries must be a list")
    entries = [_entry(i, raw) for i, raw in enumerate(raw_entries)]
    # Entries may come in any order; the timeline is ordered by time (ties keep file order).
    entries.sort(key=lambda e: (e.at, e.index))
    if data.get("created_at") is not None:
        created_at = _when(data.get("created_at"), "created_at")
    elif entries:
        created_at = entries[0].at
    else:
        raise ImportLineError("created_at is required when there are no entries")
    return ImportConversation(
        line=line_number,
        digest=hashlib.sha256(text.strip().encode()).hexdigest(),
        external_id=external_id.strip(),
        name=_text(contact, "name", "contact", 200),
        identities=identities,
        attributes=attributes,
        status=status,
        team=_text(data, "team", "line", 100).strip(),
        assignee=_text(data, "assignee", "line").strip().lower(),
        priority=priority,
        labels=[x.strip()[:64] for x in labels if x.strip()],
        created_at=created_at,
        entries=entries,
    )


# --- replaying the lifecycle -----------------------------------------------------------


@dataclass
class Replayed:
    entries: list[dict[str, Any]]  # Entry field values, in timeline order
    surveys: list[tuple[int, ImportEntry]]  # position in entries, survey
    fields: dict[str, Any]
    # (position in entries or -1, agent e-mail): the writer sets author_id from these,
    # so that replaying needs no database and can run ahead in the parsing thread.
    # -1: an agent the conversation names without authoring an entry (an assignee).
    authors: list[tuple[int, str]]


def replay(item: ImportConversation) -> Replayed:
    """The entries and lifecycle fields the live actions would have produced."""
    entries: list[dict[str, Any]] = []
    surveys: list[tuple[int, ImportEntry]] = []
    authors: list[tuple[int, str]] = []
    status: str = Conversation.Status.OPEN
    priority: str = Conversation.Priority.NORMAL
    f: dict[str, Any] = {
        "first_channel": "",
        "first_inbound_at": None,
        "first_human_reply_at": None,
        "last_message_at": None,
        "last_inbound_at": None,
        "last_inbound_channel": "",
        "waiting_since": None,
        "resolved_at": None,
        "reopened_count": 0,
        "human_reply_count": 0,
    }

    def event(
        name: str, at: datetime, parameters: dict[str, Any], author: str = ""
    ) -> dict[str, Any]:
        entry = {
            "kind": Entry.Kind.EVENT,
            "event": name,
            "parameters": parameters,
            "occurred_at": at,
            "created_at": at,
        }
        if author:
            authors.append((len(entries), author))
        entries.append(entry)
        return entry

    def set_status(new: str, at: datetime, author: str = "", **extra: Any) -> None:
        nonlocal status
        if new == status and new != Conversation.Status.SNOOZED:
            return
        if status == Conversation.Status.RESOLVED and new != status:
            f["reopened_count"] += 1
        if new == Conversation.Status.RESOLVED:
            f["resolved_at"] = at
            f["waiting_since"] = None
        event("status_changed", at, {"from": status, "to": new, **extra}, author)
        status = new

    for e in item.entries:
        at = e.at
        if e.kind == "inbound":
            if status == Conversation.Status.RESOLVED:
                # A customer message reopens a resolved conversation (as record_inbound).
                f["reopened_count"] += 1
                event("reopened", at, {"reason": "customer_replied"})
                event("status_changed", at, {"from": status, "to": "open"})
                status = Conversation.Status.OPEN
            elif status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
                event("status_changed", at, {"from": status, "to": "open"})
                status = Conversation.Status.OPEN
            previous = f["last_inbound_channel"]
            if previous and previous != e.channel:
                event(
                    "channel_switched", at, {"from": previous, "to": e.channel, "by": "customer"}
                )["channel"] = e.channel
            entries.append(
                {
                    "kind": Entry.Kind.INBOUND,
                    "channel": e.channel,
                    "body": e.body,
                    "is_auto": e.is_auto,
                    "occurred_at": at,
                    "created_at": at,
                }
            )
            if f["first_inbound_at"] is None:
                f["first_inbound_at"] = at
                f["first_channel"] = e.channel
            f["last_inbound_at"] = at
            f["last_inbound_channel"] = e.channel
            f["last_message_at"] = at
            if f["waiting_since"] is None and not e.is_auto:
                f["waiting_since"] = at
        elif e.kind == "outbound":
            authors.append((len(entries), e.author))
            entries.append(
                {
                    "kind": Entry.Kind.OUTBOUND,
                    "channel": e.channel,
                    "body": e.body,
                    "is_auto": e.is_auto,
                    "delivery_status": Entry.Delivery.SENT,
                    "occurred_at": at,
                    "created_at": at,
                }
            )
            f["last_message_at"] = at
            if not e.is_auto:
                f["human_reply_count"] += 1
                if f["first_human_reply_at"] is None:
                    f["first_human_reply_at"] = at
                f["waiting_since"] = None
        elif e.kind == "note":
            if e.author:
                authors.append((len(entries), e.author))
            entries.append(
                {
                    "kind": Entry.Kind.NOTE,
                    "body": e.body,
                    "occurred_at": at,
                    "created_at": at,
                }
            )
        elif e.kind == "survey":
            surveys.append((len(entries), e))
            entries.append(
                {
                    "kind": Entry.Kind.EVENT,
                    "event": "survey_answered",
                    "channel": e.channel,
                    "parameters": {"survey": e.survey, "score": e.score, "comment": e.comment},
                    "occurred_at": at,
                    "created_at": at,
                }
            )
        elif e.event == "resolved":
            set_status(Conversation.Status.RESOLVED, at, e.author)
        elif e.event == "reopened":
            if status == Conversation.Status.RESOLVED:
                event("reopened", at, {"reason": "imported"}, e.author)
            set_status(Conversation.Status.OPEN, at, e.author)
        elif e.event == "snoozed":
            until = e.parameters.get("until")
            extra = {"until": until} if isinstance(until, str) else {}
            set_status(Conversation.Status.SNOOZED, at, e.author, **extra)
        elif e.event == "priority":
            new = e.parameters["priority"]
            if new != priority:
                event("priority_changed", at, {"from": priority, "to": new}, e.author)
                priority = new
        elif e.event == "assigned":
            email = (e.parameters.get("assignee") or "").strip().lower()
            if email:
                authors.append((-1, email))
            event(
                "assigned",
                at,
                {
                    "assignee": email or None,
                    "assignee_name": email.split("@")[0] if email else None,
                    "team": e.parameters.get("team") or item.team or None,
                },
                e.author,
            )
    # The file's status is the truth now; the replay gives the times. resolved_at stays
    # the last resolution even when reopened since (as set_status leaves it).
    if item.status == Conversation.Status.RESOLVED:
        if f["resolved_at"] is None:
            # Resolved without a resolved event: resolved at its last activity.
            f["resolved_at"] = item.entries[-1].at if item.entries else item.created_at
        f["waiting_since"] = None
    f["status"] = item.status
    f["priority"] = item.priority
    return Replayed(entries, surveys, f, authors)


def prepare_line(line_number: int, text: str) -> ImportConversation:
    """parse_line, then replay: all of a line's work that needs no database, done in
    the parsing thread while the writer waits for the database."""
    item = parse_line(line_number, text)
    item.replayed = replay(item)
    return item


# --- writing ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    written: Counter[type[Model]] = field(default_factory=Counter)  # new rows per table

    @property
    def lines(self) -> int:
        return self.imported + self.updated + self.skipped + self.failed


class _Directory:
    """Agents and teams by e-mail / name, created as needed, cached for the whole import."""

    def __init__(self) -> None:
        self.agents: dict[str, int] = {}
        self.teams: dict[str, int] = {}
        self.labels: dict[str, int] = {}

    def agent_id(self, email: str) -> int:
        email = email.strip().lower()
        if email not in self.agents:
            agent = Agent.objects.filter(email__iexact=email).first()
            if agent is None:
                # Someone who left the old help desk: no login until an admin invites them.
                agent = Agent.objects.create_user(email, is_active=False)
            self.agents[email] = agent.pk
        return self.agents[email]

    def team_id(self, name: str) -> int:
        key = name.lower()
        if key not in self.teams:
            team = Team.objects.filter(name__iexact=name).first()
            if team is None:
                team = Team.objects.create(name=name)
            self.teams[key] = team.pk
        return self.teams[key]

    def label_id(self, name: str) -> int:
        if name not in self.labels:
            self.labels[name] = Label.objects.get_or_create(name=name)[0].pk
        return self.labels[name]

    def forget_created(self) -> None:
        """After a rollback, rows created inside it are gone: look them up again."""
        self.agents.clear()
        self.teams.clear()
        self.labels.clear()


def _owners(refs: Iterable[IdentityRef]) -> dict[IdentityRef, int]:
    by_kind: dict[str, set[str]] = {}
    for ref in refs:
        by_kind.setdefault(ref.kind, set()).add(ref.value)
    if not by_kind:
        return {}
    # Any of these kinds with any of these values, then only the pairs asked for.
    found = {
        IdentityRef(kind, value): contact_id
        for kind, value, contact_id in _rows_in(
            Identity,
            ("kind", "value", "contact_id"),
            kind=by_kind,
            value=set().union(*by_kind.values()),
        )
        if value in by_kind.get(kind, ())
    }
    # Identities may still point at a merged contact: follow to the survivor.
    merged = {
        pk: survivor
        for pk, survivor in _rows_in(Contact, ("id", "merged_into_id"), id=set(found.values()))
        if survivor is not None
    }
    for ref, contact_id in found.items():
        hops = 0
        while contact_id in merged and hops < 10:
            contact_id = merged[contact_id] or contact_id
            hops += 1
        found[ref] = contact_id
    return found


def _rows_in(
    model: type[Model], fields: Sequence[str], **criteria: Collection[Any]
) -> list[tuple[Any, ...]]:
    """values_list(*fields) of the rows whose every `criteria` field is one of its values
    (fields by attname: "contact_id", not "contact").

    PostgreSQL: `= ANY(%s)`, one array parameter per field. `field__in` with a batch's
    two thousand values cost more than the query: Django prepares each value and
    psycopg splits the statement around each placeholder.
    """
    if not all(criteria.values()):
        return []
    if connection.vendor != "postgresql":
        lookups = {f"{name}__in": values for name, values in criteria.items()}
        return list(model._default_manager.filter(**lookups).values_list(*fields))
    quote = connection.ops.quote_name
    columns = {f.attname: str(f.column) for f in model._meta.concrete_fields}

    def column(attname: str) -> str:
        return quote(columns[attname])

    where = " AND ".join(f"{column(name)} = ANY(%s)" for name in criteria)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(column(f) for f in fields)} "  # noqa: S608 - names, not input
            f"FROM {quote(model._meta.db_table)} WHERE {where}",
            [list(values) for values in criteria.values()],
        )
        return cursor.fetchall()


class _Table:
    """Rows of one model written as plain values: PostgreSQL COPY, else bulk_create.

    Building a model instance per row costs more than writing it (a million timeline
    entries spent most of the import in Model.__init__), so rows are dicts of field
    values; a field a row leaves out takes the model's default, as bulk_create would
    give it (callable defaults are called per row; uuid4 ones drawn for the whole
    batch at once). auto_now fields get the time of the write, as bulk_create's
    pre_save does.
    """

    def __init__(self, model: type[Model], *, with_pk: bool) -> None:
        self.model = model
        fields = [
            f
            for f in model._meta.concrete_fields
            if with_pk or not (f.primary_key and isinstance(f, AutoFieldTypes))
        ]
        self.fields = fields
        self.names = [f.attname for f in fields]
        self.position = {name: i for i, name in enumerate(self.names)}
        self.template: list[Any] = []
        self.callables: list[tuple[int, str, Callable[[], Any]]] = []
        self.uuids: list[tuple[int, str]] = []  # uuid4 defaults, drawn in bulk
        self.auto_now = [i for i, f in enumerate(fields) if getattr(f, "auto_now", False)]
        self.json = [i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
        for i, f in enumerate(fields):
            if f.has_default() and f.default is uuid.uuid4:
                self.uuids.append((i, f.attname))
                self.template.append(None)
            elif f.has_default() and callable(f.default):
                self.callables.append((i, f.attname, f.default))
                self.template.append(None)
            else:
                self.template.append(f.get_default())

    def values(self, rows: list[dict[str, Any]]) -> Iterator[list[Any]]:
        """Each row as the list of column values COPY writes (JSON as text)."""
        now = timezone.now()
        position, template, callables = self.position, self.template, self.callables
        uuids = self.uuids
        fresh = _uuid4_texts(len(rows) * len(uuids))
        for row in rows:
            values = template.copy()
            for i, name, default in callables:
                if name not in row:
                    values[i] = default()
            for i, name in uuids:
                if name not in row:
                    values[i] = next(fresh)
            for name, value in row.items():
                values[position[name]] = value
            for i in self.auto_now:
                values[i] = now
            for i in self.json:
                value = values[i]
                values[i] = "{}" if value == {} else json.dumps(value)
            yield values

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if connection.vendor != "postgresql":
            self.model._default_manager.bulk_create(
                [self.model(**row) for row in rows], batch_size=500
            )
            return
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(str(f.column)) for f in self.fields)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for values in self.values(rows):
                    copy.write_row(values)


def _uuid4_texts(count: int) -> Iterator[str]:
    """`count` random (version 4) UUIDs as hex text, as COPY takes them.

    uuid.uuid4() reads the system's random source once per call, which cost more than
    writing the row; one read for the whole batch is a few times cheaper.
    """
    digits = os.urandom(16 * count).hex()
    variant = "89ab" * 4  # the top two bits of the 17th digit are 10 (RFC 4122)
    for i in range(0, 32 * count, 32):
        yield (
            f"{digits[i : i + 12]}4{digits[i + 13 : i + 16]}"
            f"{variant[int(digits[i + 16], 16)]}{digits[i + 17 : i + 32]}"
        )


def _allocate_ids(model: type[Model], count: int) -> list[int]:
    """Primary keys for `count` new rows, ascending, before the rows are written.

    Rows can then point at each other in one write (a conversation at its previous
    one, a survey response at its entry), and ascending keys keep timeline ties in
    replay order. PostgreSQL: from the table's own sequence, safe with concurrent
    writers. Other databases (development and tests): after the current maximum; a
    concurrent writer taking the same key fails the batch, which is then retried
    line by line.
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    column = str(model._meta.pk.column)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                "FROM generate_series(1, %s) ORDER BY 1",
                [quote(table), column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT MAX({quote(column)}) FROM {quote(table)}")  # noqa: S608
        current = cursor.fetchone()[0] or 0
    return list(range(current + 1, current + 1 + count))


def _set_previous(changes: dict[int, int | None]) -> None:
    """UPDATE conversation.previous for these ids in one statement."""
    if not changes:
        return
    if connection.vendor != "postgresql":
        Conversation.objects.bulk_update(
            [Conversation(pk=pk, previous_id=previous) for pk, previous in changes.items()],
            ["previous"],
            batch_size=500,
        )
        return
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET previous_id = v.previous "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, previous) WHERE c.id = v.id",
            [list(changes), list(changes.values())],
        )


def _previous_links(
    history: Iterable[tuple[int, int, datetime, datetime | None]],
) -> dict[int, int | None]:
    """{conversation id: the one it continues} for (id, contact, created, resolved) rows.

    As live (actions._pick_conversation): a conversation continues the contact's
    latest conversation resolved at or before it was created (ties: the higher id).
    """
    by_contact: dict[int, list[tuple[int, datetime, datetime | None]]] = {}
    for pk, contact_id, created_at, resolved_at in history:
        by_contact.setdefault(contact_id, []).append((pk, created_at, resolved_at))
    links: dict[int, int | None] = {}
    for rows in by_contact.values():
        resolved = sorted((r[2], r[0]) for r in rows if r[2] is not None)
        times = [r[0] for r in resolved]
        for pk, created_at, _resolved in rows:
            # The latest resolution at or before created_at, skipping the conversation
            # itself (resolved at the instant it was created).
            i = bisect_right(times, created_at) - 1
            while i >= 0 and resolved[i][1] == pk:
                i -= 1
            links[pk] = resolved[i][1] if i >= 0 else None
    return links


@cache
def _table(model: type[Model], *, with_pk: bool = True) -> _Table:
    return _Table(model, with_pk=with_pk)


def _write_batch(items: list[ImportConversation], directory: _Directory, outcome: Outcome) -> None:
    """Write a batch in the caller's transaction, counting it in `outcome`."""
    now = timezone.now()
    external_ids = [i.external_id for i in items]
    digests = dict(
        _rows_in(ImportedConversation, ("external_id", "digest"), external_id=external_ids)
    )
    existing_conversations = dict(
        _rows_in(Conversation, ("external_id", "id"), external_id=external_ids)
    )
    skipped = 0
    seen: dict[str, ImportConversation] = {}
    for item in items:
        if digests.get(item.external_id) == item.digest:
            skipped += 1
            continue
        seen[item.external_id] = item  # a later line with the same id wins
    todo = list(seen.values())
    skipped += len(items) - skipped - len(todo)
    if not todo:
        outcome.skipped += skipped
        return

    # Contacts: reuse the owner of any identity; lines of this batch share new contacts.
    owners = _owners(ref for item in todo for ref in item.identities)
    new_contacts: list[dict[str, Any]] = []
    placeholder: dict[IdentityRef, int] = {}  # ref -> index into new_contacts
    contact_of: list[tuple[str, int]] = []  # ("existing", id) or ("new", index)
    for item in todo:
        owner = next((owners[r] for r in item.identities if r in owners), None)
        if owner is not None:
            contact_of.append(("existing", owner))
            for ref in item.identities:
                placeholder.pop(ref, None)
            continue
        index = next((placeholder[r] for r in item.identities if r in placeholder), None)
        if index is None:
            index = len(new_contacts)
            new_contacts.append(
                {"name": item.name, "attributes": item.attributes, "created_at": item.created_at}
            )
        for ref in item.identities:
            placeholder.setdefault(ref, index)
        contact_of.append(("new", index))
    for row, pk in zip(new_contacts, _allocate_ids(Contact, len(new_contacts)), strict=True):
        row["id"] = pk
    _table(Contact).write(new_contacts)
    contact_ids = [
        cid if kind == "existing" else new_contacts[cid]["id"] for kind, cid in contact_of
    ]
    new_identities = []
    claimed = set(owners)
    for item, contact_id in zip(todo, contact_ids, strict=True):
        for ref in item.identities:
            if ref not in claimed:
                claimed.add(ref)
                new_identities.append(
                    {"contact_id": contact_id, "kind": ref.kind, "value": ref.value}
                )
    _table(Identity, with_pk=False).write(new_identities)
    # Known contacts learn the name and attributes the old system had (as update_contact).
    updates = {}
    for item, (kind, cid) in zip(todo, contact_of, strict=True):
        if kind == "existing" and (item.attributes or item.name):
            updates[cid] = item
    if updates:
        contacts = Contact.objects.in_bulk(list(updates))
        for cid, item in updates.items():
            contact = contacts[cid]
            contact.attributes = {**contact.attributes, **item.attributes}
            contact.name = contact.name or item.name
            contact.updated_at = now
        Contact.objects.bulk_update(contacts.values(), ["attributes", "name", "updated_at"])

    # Conversations: new ones created, changed ones rewritten.
    replays = [item.replayed or replay(item) for item in todo]
    for replayed in replays:
        for position, email in replayed.authors:
            pk = directory.agent_id(email)
            if position >= 0:
                replayed.entries[position]["author_id"] = pk
    updated_ids = [
        existing_conversations[i.external_id]
        for i in todo
        if i.external_id in existing_conversations
    ]
    if updated_ids:
        SurveyResponse.objects.filter(conversation_id__in=updated_ids).delete()
        Entry.objects.filter(conversation_id__in=updated_ids).delete()
        Conversation.labels.through.objects.filter(conversation_id__in=updated_ids).delete()
    fresh = iter(_allocate_ids(Conversation, len(todo) - len(updated_ids)))
    conversations: list[dict[str, Any]] = []
    for item, contact_id, replayed in zip(todo, contact_ids, replays, strict=True):
        conversations.append(
            {
                "id": existing_conversations.get(item.external_id) or next(fresh),
                "contact_id": contact_id,
                "external_id": item.external_id,
                "team_id": directory.team_id(item.team) if item.team else None,
                "assignee_id": directory.agent_id(item.assignee) if item.assignee else None,
                "created_at": item.created_at,
                "updated_at": now,
                **replayed.fields,
            }
        )
    updated = set(updated_ids)

    # `previous`, as live: relink the whole history of every touched contact, since
    # lines come in any order (an old conversation imported late changes later ones).
    ours = {c["id"]: c for c in conversations}
    current = {}
    history = []
    for pk, contact_id, created_at, resolved_at, previous_id in _rows_in(
        Conversation,
        ("id", "contact_id", "created_at", "resolved_at", "previous_id"),
        contact_id={c["contact_id"] for c in conversations},
    ):
        if pk not in ours:
            current[pk] = previous_id
            history.append((pk, contact_id, created_at, resolved_at))
    history += [
        (c["id"], c["contact_id"], c["created_at"], c["resolved_at"]) for c in conversations
    ]
    links = _previous_links(history)
    for c in conversations:
        c["previous_id"] = links[c["id"]]

    _table(Conversation).write([c for c in conversations if c["id"] not in updated])
    if updated:
        fields = ["contact", "team", "assignee", "created_at", "updated_at", "previous"]
        fields += replays[0].fields.keys()
        Conversation.objects.bulk_update(
            [
                Conversation(**{k: v for k, v in c.items() if k != "external_id"})
                for c in conversations
                if c["id"] in updated
            ],
            fields,
        )
        KpiDirty.objects.bulk_create(
            [KpiDirty(conversation_id=pk) for pk in updated], ignore_conflicts=True
        )
    _set_previous({pk: links[pk] for pk, previous in current.items() if links[pk] != previous})

    entries: list[dict[str, Any]] = []
    for conversation, replayed in zip(conversations, replays, strict=True):
        for entry in replayed.entries:
            entry["conversation_id"] = conversation["id"]
            entry["contact_id"] = conversation["contact_id"]
            entries.append(entry)
    for entry, pk in zip(entries, _allocate_ids(Entry, len(entries)), strict=True):
        entry["id"] = pk
    _table(Entry).write(entries)
    responses = []
    for conversation, replayed in zip(conversations, replays, strict=True):
        for position, survey in replayed.surveys:
            responses.append(
                {
                    "conversation_id": conversation["id"],
                    "contact_id": conversation["contact_id"],
                    "survey": survey.survey,
                    "score": survey.score,
                    "comment": survey.comment,
                    "channel": survey.channel,
                    "entry_id": replayed.entries[position]["id"],
                    "received_at": survey.at,
                }
            )
    _table(SurveyResponse, with_pk=False).write(responses)
    Through = Conversation.labels.through
    Through.objects.bulk_create(
        [
            Through(conversation_id=conversation["id"], label_id=directory.label_id(name))
            for conversation, item in zip(conversations, todo, strict=True)
            for name in dict.fromkeys(item.labels)
        ]
    )
    # Only lines imported before have a row to replace (their digest was read above).
    replaced = [i.external_id for i in todo if i.external_id in digests]
    if replaced:
        ImportedConversation.objects.filter(external_id__in=replaced).delete()
    _table(ImportedConversation).write(
        [
            {
                "conversation_id": conversation["id"],
                "external_id": item.external_id,
                "digest": item.digest,
                "imported_at": now,
            }
            for conversation, item in zip(conversations, todo, strict=True)
        ]
    )
    outcome.skipped += skipped
    outcome.updated += len(updated)
    outcome.imported += len(conversations) - len(updated)
    outcome.written.update(
        {
            Contact: len(new_contacts),
            Identity: len(new_identities),
            Conversation: len(conversations) - len(updated),
            Entry: len(entries),
            SurveyResponse: len(responses),
            ImportedConversation: len(conversations),
        }
    )


def _committed(items: list[ImportConversation], directory: _Directory, outcome: Outcome) -> None:
    """Write `items` in a transaction of their own; their counts reach `outcome` once it
    has committed (a deferred foreign key is checked at COMMIT, which can still fail)."""
    counts = Outcome()
    with transaction.atomic():
        _write_batch(items, directory, counts)
    outcome.imported += counts.imported
    outcome.updated += counts.updated
    outcome.skipped += counts.skipped
    outcome.written.update(counts.written)


def _flush(items: list[ImportConversation], directory: _Directory, outcome: Outcome) -> None:
    if not items:
        return
    try:
        _committed(items, directory, outcome)
        return
    except Exception:  # noqa: BLE001 - one bad line must not sink the batch: isolate it
        directory.forget_created()
    for item in items:
        try:
            _committed([item], directory, outcome)
        except Exception as exc:  # noqa: BLE001 - reported with its line number
            directory.forget_created()
            outcome.failed += 1
            outcome.errors.append((item.line, f"{type(exc).__name__}: {exc}"))


def _parsed_chunks(
    lines: Iterable[str], size: int
) -> Iterator[list[tuple[int, ImportConversation | ImportLineError]]]:
    """The lines prepared, `size` at a time, each with its line number (or its error)."""
    chunk: list[tuple[int, ImportConversation | ImportLineError]] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            chunk.append((number, prepare_line(number, text)))
        except ImportLineError as exc:
            chunk.append((number, exc))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _read_ahead(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Yield `items`, produced by a background thread at most `depth` items ahead.

    Parsing, validating and replaying lines is pure Python; writing a batch mostly
    waits for PostgreSQL, with the GIL released. Preparing the next batch during those waits
    keeps both cores busy (this process on one, the database on the other). The
    thread touches no database connection; it stops when the consumer does.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(message, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(("error", exc))
            return
        put(("done", None))

    thread = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def _analyze_grown(written: Counter[type[Model]]) -> None:
    """ANALYZE the tables an import grew by more than a tenth, or never analyzed.

    The planner's row counts come from the last ANALYZE. Autovacuum takes its time
    after a bulk load (and may be off); until then `kpi_rebuild`, the documented next
    step, plans for the tables as they were: at 100,000 imported conversations its
    FCR lookups took 20 s instead of under one. Not inside a caller's transaction:
    the rows may yet be rolled back, and ANALYZE's row estimates would stay.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    grew = {model._meta.db_table: rows for model, rows in written.items() if rows}
    if not grew:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [list(grew)],
        )
        stale = _stale_tables(grew, dict(cursor.fetchall()))
        if stale:
            quote = connection.ops.quote_name
            cursor.execute(f"ANALYZE {', '.join(quote(name) for name in stale)}")


def _stale_tables(grew: dict[str, int], estimates: dict[str, float]) -> list[str]:
    """The tables whose planner estimate (pg_class.reltuples: -1 until the first
    ANALYZE) is missing, or is less than ten times the rows just written to them."""
    return sorted(
        name
        for name, rows in grew.items()
        if estimates.get(name, -1) < 0 or rows * 10 > estimates[name]
    )


def import_lines(
    lines: Iterable[str],
    *,
    batch_size: int = BATCH_SIZE,
    on_error: Callable[[int, str], None] | None = None,
    on_progress: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Import JSON Lines (streamed; constant memory); returns the counts."""
    outcome = Outcome()
    directory = _Directory()
    reported = 0

    def report_errors() -> None:
        nonlocal reported
        if on_error is not None:
            for line, reason in outcome.errors[reported:]:
                on_error(line, reason)
        reported = len(outcome.errors)
        # Keep memory constant on files full of errors.
        if reported > 1000:
            outcome.errors.clear()
            reported = 0

    for chunk in _read_ahead(_parsed_chunks(lines, batch_size)):
        batch: list[ImportConversation] = []
        for number, parsed in chunk:
            if isinstance(parsed, ImportLineError):
                outcome.failed += 1
                outcome.errors.append((number, str(parsed)))
            else:
                batch.append(parsed)
        report_errors()
        _flush(batch, directory, outcome)
        report_errors()
        if on_progress is not None:
            on_progress(outcome)
    _analyze_grown(outcome.written)
    return outcome


def read_lines(stream: IO[str]) -> Iterator[str]:
    yield from stream
