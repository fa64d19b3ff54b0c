"""KPI computation (KPI.md): per-conversation facts, and aggregations over them.

`refresh_facts` turns the core's lifecycle timestamps and inbound entries into
KpiConversationFact rows (plus inbound-per-day and channel-transition rows);
`summary` and the dashboard helpers aggregate over those rows for a period and a
filter. Live counters (backlog) come straight from indexed queries on conversations.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import NotSupportedError, connection
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    Field,
    FloatField,
    Func,
    IntegerField,
    Min,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Lag, TruncDate
from django.utils import timezone

from conversations.models import Conversation, Entry
from kpi.business_hours import Schedule, business_seconds
from kpi.models import (
    BusinessSchedule,
    KpiChannelTransition,
    KpiConversationFact,
    KpiInboundDay,
    SurveyRequest,
    SurveyResponse,
)
from kpi.windows import period_bounds, workspace_zone

BATCH = 2000


# --- percentiles ---------------------------------------------------------------------


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return float(ordered[lower])
    weight = position - lower
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * weight)


class PercentileCont(Aggregate):
    """PostgreSQL only: percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def uses_percentile_cont() -> bool:
    return connection.vendor == "postgresql"


def median_p90(queryset: QuerySet[Any], field: str) -> dict[str, Any]:
    """{"median_seconds", "p90_seconds", "count"} over non-null values of `field`."""
    queryset = queryset.filter(**{f"{field}__isnull": False})
    if uses_percentile_cont():
        row = queryset.aggregate(
            median=PercentileCont(field, 0.5), p90=PercentileCont(field, 0.9), count=Count("pk")
        )
        return {"median_seconds": row["median"], "p90_seconds": row["p90"], "count": row["count"]}
    values = list(queryset.values_list(field, flat=True))
    return {
        "median_seconds": percentile_cont(values, 0.5),
        "p90_seconds": percentile_cont(values, 0.9),
        "count": len(values),
    }


# --- facts -----------------------------------------------------------------------------


def load_schedules() -> tuple[Schedule | None, dict[int, Schedule]]:
    """The workspace schedule (team null) and one per team that has its own."""
    default: Schedule | None = None
    by_team: dict[int, Schedule] = {}
    for row in BusinessSchedule.objects.prefetch_related("holidays"):
        schedule = Schedule.from_spec(
            row.time_zone or settings.WORKSPACE_TIME_ZONE or "UTC",
            row.hours,
            frozenset(h.day for h in row.holidays.all()),
        )
        if row.team_id is None:
            default = default or schedule
        else:
            by_team[row.team_id] = schedule
    return default, by_team


def _chunks(ids: Sequence[int], size: int = BATCH) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _column_list(model: type[Model], names: Iterable[str]) -> str:
    """The quoted columns of these fields (names or attnames), comma-separated."""
    columns = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)  # noqa: S101 - concrete fields only, for mypy
        columns.append(connection.ops.quote_name(str(field.column)))
    return ", ".join(columns)


def insert_select(model: type[Model], columns: dict[str, str], queryset: QuerySet[Any]) -> int:
    """INSERT INTO the model's table the rows of `queryset`, inside the database.

    The rows never travel to Python and back: a full rebuild derives ~400k inbound-day
    rows from a million entries. `columns` maps each model field to the name the
    queryset selects for it; returns the number of rows inserted.
    """
    compiler = queryset.values_list(*columns.values()).query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    selected = [alias for _expression, _sql, alias in compiler.select]
    if selected != list(columns.values()):  # the INSERT's column list must match
        raise ValueError(f"the query selects {selected}, not {list(columns.values())}")
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({_column_list(model, columns)}) {sql}", params)
        return int(cursor.rowcount)


def fetch_rows(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a values_list queryset, read fast on PostgreSQL.

    Django reads timestamptz values with its own loader, a subclass of psycopg's
    pure-Python one: ~15 µs a value, 6 s for the 400k timestamps of a full rebuild.
    psycopg's C loader reads the same instants (tzinfo datetime.timezone.utc) in a
    tenth of that. The query runs on Django's connection, inside its transaction.
    """
    if connection.vendor != "postgresql":
        return list(queryset)
    from psycopg.types.datetime import TimestamptzLoader

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _inbound(ids: Sequence[int] | None) -> QuerySet[Entry]:
    queryset = Entry.objects.filter(kind=Entry.Kind.INBOUND).order_by()
    if ids is not None:
        queryset = queryset.filter(conversation_id__in=ids)
    return queryset


def _insert_inbound_days(ids: Sequence[int] | None) -> None:
    """Inbound messages per conversation, workspace day and channel."""
    rows = (
        _inbound(ids)
        .annotate(day=TruncDate("occurred_at", tzinfo=workspace_zone()))
        .values("conversation_id", "day", "channel")
        .annotate(messages=Count("pk"))
    )
    columns = {
        "fact": "conversation_id",
        "day": "day",
        "channel": "channel",
        "messages": "messages",
    }
    insert_select(KpiInboundDay, columns, rows)


def _insert_transitions(ids: Sequence[int] | None) -> None:
    """Each (from, to) channel pair where an inbound message followed one on another
    channel, once per conversation."""
    previous = Window(
        Lag("channel"),
        partition_by=[F("conversation_id")],
        order_by=[F("occurred_at").asc(), F("id").asc()],
    )
    rows = (
        _inbound(ids)
        .annotate(previous=previous)
        .filter(previous__isnull=False)
        .exclude(previous=F("channel"))
        .distinct()
    )
    columns = {"fact": "conversation_id", "from_channel": "previous", "to_channel": "channel"}
    insert_select(KpiChannelTransition, columns, rows)


class Seconds(Func):
    """`end - start` in seconds (float), for two datetimes; NULL if either is NULL."""

    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sql(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedError("Seconds() is implemented for PostgreSQL and SQLite")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # timestamptz - timestamptz is an exact interval in 24-hour days.
        template = "EXTRACT(EPOCH FROM (%(expressions)s))::double precision"
        return super().as_sql(compiler, connection, template=template, arg_joiner=" - ")

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django's own SQLite function for datetime subtraction: microseconds.
        template = "(django_timestamp_diff(%(expressions)s) / 1000000.0)"
        return super().as_sql(compiler, connection, template=template, arg_joiner=", ")


# What the facts INSERT needs from Python, per conversation: business-hours FRT
# (schedules, holidays, DST) and the number of inbound channels (counted from the
# inbound days just written). A per-session temporary table, joined by primary key.
SCRATCH_TABLE = "kpi_fact_scratch"


def _inbound_channels(ids: Sequence[int] | None) -> Counter[int]:
    queryset = KpiInboundDay.objects.order_by()
    if ids is not None:
        queryset = queryset.filter(fact_id__in=ids)
    pairs = queryset.values_list("fact_id", "channel").distinct()
    return Counter(fact_id for fact_id, _channel in fetch_rows(pairs))


def _business_frt(ids: Sequence[int] | None) -> dict[int, float]:
    default_schedule, team_schedules = load_schedules()
    if default_schedule is None and not team_schedules:
        return {}
    # No FRT for a reply before the first customer message (see _insert_facts).
    queryset = Conversation.objects.order_by().filter(
        first_human_reply_at__gte=F("first_inbound_at")
    )
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    result = {}
    for pk, team_id, first_in, first_reply in fetch_rows(
        queryset.values_list("pk", "team_id", "first_inbound_at", "first_human_reply_at")
    ):
        schedule = team_schedules.get(team_id) or default_schedule
        if schedule is not None:
            result[pk] = business_seconds(first_in, first_reply, schedule)
    return result


def _fill_scratch(ids: Sequence[int] | None) -> None:
    channels = _inbound_channels(ids)
    business = _business_frt(ids)
    rows = [(pk, business.get(pk), channels.get(pk, 0)) for pk in channels.keys() | business]
    table = connection.ops.quote_name(SCRATCH_TABLE)
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} (conversation_id bigint PRIMARY KEY,"
            " business_frt_seconds double precision, inbound_channels integer NOT NULL)"
            # PostgreSQL empties it at commit; elsewhere the DELETE below does.
            + (" ON COMMIT DELETE ROWS" if postgresql else "")
        )
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant name
        if postgresql:
            with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)  # noqa: S608


def _scratch(column: str, output_field: Field[Any, Any]) -> RawSQL:
    """The scratch table's `column` for the outer query's conversation (NULL if none)."""
    table = connection.ops.quote_name(SCRATCH_TABLE)
    outer = connection.ops.quote_name(Conversation._meta.db_table)
    return RawSQL(  # noqa: S611 - constant names, no input
        f"SELECT s.{column} FROM {table} s WHERE s.conversation_id = {outer}.id",  # noqa: S608
        (),
        output_field=output_field,
    )


def _insert_facts(ids: Sequence[int] | None) -> int:
    """One KpiConversationFact per conversation, computed by the database.

    Call after the inbound days of these conversations are written (inbound_channels
    counts them). Returns the number of facts written.
    """
    zone = workspace_zone()
    window = timedelta(days=settings.KPI_REPEAT_WINDOW_DAYS)
    later = Exists(
        Conversation.objects.filter(
            contact_id=OuterRef("contact_id"),
            created_at__gt=OuterRef("resolved_at"),
            created_at__lte=OuterRef("resolved_at") + window,
        ).exclude(pk=OuterRef("pk"))
    )
    # Resolution and FCR only while resolved now; resolved_at is the last resolution.
    resolved = Q(status=Conversation.Status.RESOLVED, resolved_at__isnull=False)
    # A reply before the first customer message (an agent-started conversation) is
    # not a response to anything: no FRT.
    replied = Q(first_human_reply_at__gte=F("first_inbound_at"))
    _fill_scratch(ids)
    queryset = Conversation.objects.order_by()
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    queryset = queryset.annotate(
        k_created_day=TruncDate("created_at", tzinfo=zone),
        k_resolved_at=Case(When(resolved, then=F("resolved_at"))),
        k_resolved_day=Case(When(resolved, then=TruncDate("resolved_at", tzinfo=zone))),
        k_frt=Case(When(replied, then=Seconds("first_human_reply_at", "first_inbound_at"))),
        k_business_frt=_scratch("business_frt_seconds", FloatField()),
        k_resolution=Case(When(resolved, then=Seconds("resolved_at", "created_at"))),
        k_repeat=Case(When(resolved, then=later), default=Value(False)),
        k_fcr=Case(
            When(resolved & Q(human_reply_count__lte=1, reopened_count=0), then=~later),
            When(resolved, then=Value(False)),
            default=Value(None),
            output_field=BooleanField(null=True),
        ),
        k_inbound_channels=Coalesce(_scratch("inbound_channels", IntegerField()), 0),
        k_refreshed_at=Value(timezone.now(), output_field=DateTimeField()),
    )
    columns = {
        "conversation": "id",
        "contact_id": "contact_id",
        "team_id": "team_id",
        "agent_id": "assignee_id",
        "channel": "first_channel",
        "status": "status",
        "created_at": "created_at",
        "created_day": "k_created_day",
        "resolved_at": "k_resolved_at",
        "resolved_day": "k_resolved_day",
        "frt_seconds": "k_frt",
        "business_frt_seconds": "k_business_frt",
        "resolution_seconds": "k_resolution",
        "human_replies": "human_reply_count",
        "reopened": "reopened_count",
        "repeat_contact": "k_repeat",
        "fcr": "k_fcr",
        "inbound_channels": "k_inbound_channels",
        "refreshed_at": "k_refreshed_at",
    }
    return insert_select(KpiConversationFact, columns, queryset)


FACT_MODELS = (KpiChannelTransition, KpiInboundDay, KpiConversationFact)


def _delete(ids: Sequence[int]) -> None:
    KpiChannelTransition.objects.filter(fact_id__in=ids).delete()
    KpiInboundDay.objects.filter(fact_id__in=ids).delete()
    KpiConversationFact.objects.filter(pk__in=ids).delete()


@contextmanager
def _emptied_for_rewrite() -> Iterator[None]:
    """Empty the fact tables for a full rebuild that writes every row again.

    PostgreSQL: TRUNCATE, and the plain (non-unique) indexes dropped before the load
    and built again after it from their own definitions, as pg_restore does:
    building an index once costs far less than updating it for each of ~500k rows,
    and no dead rows are left to write around and vacuum. Both lock the three tables
    until commit: a dashboard read that misses the cache waits for the rebuild.
    """
    if connection.vendor != "postgresql":
        for model in FACT_MODELS:
            model._default_manager.all().delete()
        yield
        return
    tables = [connection.ops.quote_name(m._meta.db_table) for m in FACT_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique "
            "AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        # TRUNCATE forgot the tables' statistics; without them the first dashboard
        # reads plan for a handful of rows (a bitmap scan over 100k+ instead).
        cursor.execute(f"ANALYZE {', '.join(tables)}")


def _tune_for_bulk() -> None:
    """For the rest of the transaction: no JIT (compiling the rebuild's statements
    took a second of its ten, for nothing), and memory to hash-aggregate a million
    entries instead of sorting them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")


def _refresh(ids: Sequence[int] | None) -> int:
    """Rewrite the facts of these conversations (all for None); returns the count.

    Every row is derived in the database (INSERT ... SELECT); only business-hours
    FRT is computed in Python and joined in.
    """
    if ids is None:
        with _emptied_for_rewrite():
            _insert_inbound_days(None)
            _insert_transitions(None)
            return _insert_facts(None)
    _delete(ids)
    _insert_inbound_days(ids)
    _insert_transitions(ids)
    return _insert_facts(ids)


def refresh_facts(conversation_ids: Iterable[int] | None = None) -> int:
    """Recompute the facts of these conversations (all of them for None); returns the count.

    The caller holds the transaction (kpi.tasks serializes refreshes on the state row).
    """
    _tune_for_bulk()
    if conversation_ids is None:
        return _refresh(None)
    ids = sorted(set(conversation_ids))
    return sum(_refresh(chunk) for chunk in _chunks(ids))


def affected_by(conversation_ids: Sequence[int]) -> set[int]:
    """These conversations and the earlier ones of the same contacts whose FCR they decide.

    A new conversation turns an earlier one, resolved within the repeat window before
    it, into a repeat contact.
    """
    window = timedelta(days=settings.KPI_REPEAT_WINDOW_DAYS)
    result = set(conversation_ids)
    for chunk in _chunks(list(conversation_ids)):
        rows = (
            Conversation.objects.filter(pk__in=chunk)
            .values("contact_id")
            .annotate(first=Min("created_at"))
        )
        query = Q()
        for row in rows:
            query |= Q(contact_id=row["contact_id"], resolved_at__gte=row["first"] - window)
        if query:
            result.update(Conversation.objects.filter(query).values_list("pk", flat=True))
    return result


# --- aggregation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    team_id: int | None = None
    agent_id: int | None = None

    def key(self) -> str:
        """For cache keys (no spaces: safe for every cache backend)."""
        return f"{self.channel or '-'}.{self.team_id or '-'}.{self.agent_id or '-'}"

    def facts(self, queryset: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
        if self.channel:
            queryset = queryset.filter(**{f"{prefix}channel": self.channel})
        if self.team_id:
            queryset = queryset.filter(**{f"{prefix}team_id": self.team_id})
        if self.agent_id:
            queryset = queryset.filter(**{f"{prefix}agent_id": self.agent_id})
        return queryset

    def conversations(self, queryset: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
        if self.channel:
            queryset = queryset.filter(**{f"{prefix}first_channel": self.channel})
        if self.team_id:
            queryset = queryset.filter(**{f"{prefix}team_id": self.team_id})
        if self.agent_id:
            queryset = queryset.filter(**{f"{prefix}assignee_id": self.agent_id})
        return queryset


def _percent(part: int, whole: int) -> float | None:
    return part * 100.0 / whole if whole else None


def created_facts(start: date, end: date, filters: Filters) -> QuerySet[KpiConversationFact]:
    return filters.facts(
        KpiConversationFact.objects.filter(created_day__gte=start, created_day__lt=end)
    )


def resolved_facts(start: date, end: date, filters: Filters) -> QuerySet[KpiConversationFact]:
    return filters.facts(
        KpiConversationFact.objects.filter(resolved_day__gte=start, resolved_day__lt=end)
    )


def volume(start: date, end: date, filters: Filters) -> dict[str, Any]:
    created = created_facts(start, end, filters)
    by_channel = {
        row["channel"] or "unknown": row["n"]
        for row in created.values("channel").annotate(n=Count("pk")).order_by("channel")
    }
    # Inbound messages count by the message's own channel and the day it arrived.
    inbound = KpiInboundDay.objects.filter(day__gte=start, day__lt=end)
    if filters.channel:
        inbound = inbound.filter(channel=filters.channel)
    if filters.team_id:
        inbound = inbound.filter(fact__team_id=filters.team_id)
    if filters.agent_id:
        inbound = inbound.filter(fact__agent_id=filters.agent_id)
    messages = inbound.aggregate(n=Sum("messages"))["n"] or 0
    return {
        "conversations": sum(by_channel.values()),
        "inbound_messages": messages,
        "by_channel": by_channel,
    }


def frt(start: date, end: date, filters: Filters, *, business: bool = False) -> dict[str, Any]:
    field = "business_frt_seconds" if business else "frt_seconds"
    return median_p90(created_facts(start, end, filters), field)


def resolution(start: date, end: date, filters: Filters) -> dict[str, Any]:
    return median_p90(resolved_facts(start, end, filters), "resolution_seconds")


def fcr(start: date, end: date, filters: Filters) -> dict[str, Any]:
    row = resolved_facts(start, end, filters).aggregate(
        resolved=Count("pk"), first=Count("pk", filter=Q(fcr=True))
    )
    return {
        "percent": _percent(row["first"], row["resolved"]),
        "first_contact": row["first"],
        "resolved": row["resolved"],
    }


def _responses(start: date, end: date, filters: Filters, survey: str) -> QuerySet[SurveyResponse]:
    lo, hi = period_bounds(start, end)
    return filters.conversations(
        SurveyResponse.objects.filter(survey=survey, received_at__gte=lo, received_at__lt=hi),
        "conversation__",
    )


def csat(start: date, end: date, filters: Filters) -> dict[str, Any]:
    row = _responses(start, end, filters, "csat").aggregate(
        responses=Count("pk"), satisfied=Count("pk", filter=Q(score__gte=4))
    )
    lo, hi = period_bounds(start, end)
    asked = filters.conversations(
        SurveyRequest.objects.filter(survey="csat", created_at__gte=lo, created_at__lt=hi),
        "conversation__",
    ).count()
    return {
        "percent": _percent(row["satisfied"], row["responses"]),
        "satisfied": row["satisfied"],
        "responses": row["responses"],
        "requests": asked,
        "response_rate": _percent(row["responses"], asked),
    }


def nps(start: date, end: date, filters: Filters) -> dict[str, Any]:
    row = _responses(start, end, filters, "nps").aggregate(
        responses=Count("pk"),
        promoters=Count("pk", filter=Q(score__gte=9)),
        detractors=Count("pk", filter=Q(score__lte=6)),
    )
    total = row["responses"]
    score = (row["promoters"] - row["detractors"]) * 100.0 / total if total else None
    return {
        "score": score,
        "promoters": row["promoters"],
        "passives": total - row["promoters"] - row["detractors"],
        "detractors": row["detractors"],
        "responses": total,
    }


# Pages and the API reuse a backlog count this many seconds old: counting every open
# conversation is the costliest query of a warm dashboard (tens of thousands of rows).
BACKLOG_MAX_AGE = 5


def backlog(filters: Filters, now: datetime | None = None, *, max_age: int = 0) -> dict[str, Any]:
    """Open and pending now (live, from the conversations' status index).

    With max_age, counts read up to that many seconds ago (by any process) are
    reused; the oldest wait is still measured to `now`.
    """
    now = now or timezone.now()
    key = f"kpi:backlog:{filters.key()}"
    row = cache.get(key) if max_age else None
    if row is None:
        queryset = filters.conversations(
            Conversation.objects.filter(
                status__in=(Conversation.Status.OPEN, Conversation.Status.PENDING)
            ).order_by()
        )
        row = queryset.aggregate(
            open=Count("pk", filter=Q(status=Conversation.Status.OPEN)),
            pending=Count("pk", filter=Q(status=Conversation.Status.PENDING)),
            oldest=Min("waiting_since"),
        )
        if max_age:
            cache.set(key, row, max_age)
    oldest = row["oldest"]
    return {
        "open": row["open"],
        "pending": row["pending"],
        "oldest_waiting_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else None,
    }


def channel_switch(start: date, end: date, filters: Filters) -> dict[str, Any]:
    created = created_facts(start, end, filters).filter(inbound_channels__gte=1)
    row = created.aggregate(
        conversations=Count("pk"), switched=Count("pk", filter=Q(inbound_channels__gt=1))
    )
    matrix: dict[str, dict[str, int]] = {}
    transitions = filters.facts(
        KpiChannelTransition.objects.filter(
            fact__created_day__gte=start, fact__created_day__lt=end
        ),
        "fact__",
    )
    for item in (
        transitions.values("from_channel", "to_channel")
        .annotate(n=Count("fact_id", distinct=True))
        .order_by("from_channel", "to_channel")
    ):
        matrix.setdefault(item["from_channel"], {})[item["to_channel"]] = item["n"]
    return {
        "percent": _percent(row["switched"], row["conversations"]),
        "switched": row["switched"],
        "conversations": row["conversations"],
        "matrix": matrix,
    }


def summary(
    start: date, end: date, filters: Filters | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The KPI.md JSON for [start, end) in the workspace zone; the API and command print it."""
    filters = filters or Filters()
    return {
        "period": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "time_zone": settings.WORKSPACE_TIME_ZONE or "UTC",
        },
        "filters": {
            "channel": filters.channel,
            "team": filters.team_id,
            "agent": filters.agent_id,
        },
        "volume": volume(start, end, filters),
        "frt": frt(start, end, filters),
        "business_frt": frt(start, end, filters, business=True),
        "resolution": resolution(start, end, filters),
        "fcr": fcr(start, end, filters),
        "csat": csat(start, end, filters),
        "nps": nps(start, end, filters),
        "backlog": backlog(filters, now),
        "channel_switch": channel_switch(start, end, filters),
    }
