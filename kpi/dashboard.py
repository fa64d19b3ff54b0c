"""What the manager's dashboard shows, built as plain values for the template and CSV.

Everything here reads the stored facts (kpi.compute) and is cached per facts
version, so the page costs a handful of queries; the backlog card is live (counts at
most compute.BACKLOG_MAX_AGE seconds old).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Channel
from helpdesk.models import Agent, Team
from kpi import compute
from kpi.actions import facts_version
from kpi.compute import PercentileCont, percentile_cont, uses_percentile_cont
from kpi.models import KpiTarget, SurveyResponse
from kpi.params import KpiQuery, summary_for
from kpi.windows import days, local_day, previous_period

CACHE_SECONDS = 300


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return _("%(s)ds") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)dm") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)dh %(m)02dm") % {"h": hours, "m": minutes}
    return _("%(d)dd %(h)dh") % {"d": hours // 24, "h": hours % 24}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "seconds":
        return format_duration(value)
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "score":
        return f"{value:+.0f}" if value else "0"
    return f"{value:,.0f}"


@dataclass
class Card:
    metric: str
    label: str
    value: float | None
    unit: str
    colour: str = "none"
    display: str = ""
    previous: float | None = None
    delta_display: str = ""
    trend: str = ""  # "better", "worse", "same" or "" (no comparison)
    detail: str = ""
    target: str = ""


def _card(
    metric: str,
    label: str,
    value: float | None,
    previous: float | None,
    unit: str,
    targets: dict[str, KpiTarget],
    detail: str = "",
) -> Card:
    target = targets.get(metric)
    card = Card(metric, label, value, unit, previous=previous, detail=detail)
    card.display = format_value(value, unit)
    if target is not None:
        card.colour = target.colour(value)
        card.target = _("target %(green)s, warn at %(amber)s") % {
            "green": format_value(target.green, unit),
            "amber": format_value(target.amber, unit),
        }
    if value is not None and previous is not None:
        delta = value - previous
        if unit == "seconds":
            card.delta_display = ("+" if delta >= 0 else "−") + format_duration(abs(delta))
        elif unit == "percent":
            card.delta_display = f"{delta:+.1f} pts"
        else:
            card.delta_display = f"{delta:+,.0f}"
        lower_better = target is not None and target.direction == KpiTarget.Direction.LOWER
        if abs(delta) < 1e-9:
            card.trend = "same"
        elif target is None:
            card.trend = "up" if delta > 0 else "down"  # no target: neither good nor bad
        else:
            card.trend = "better" if (delta < 0) == lower_better else "worse"
    return card


def cards(
    current: dict[str, Any], previous: dict[str, Any], targets_list: list[KpiTarget] | None = None
) -> list[Card]:
    if targets_list is None:
        targets_list = list(KpiTarget.objects.all())
    targets = {t.metric: t for t in targets_list}

    def both(*path: str) -> tuple[Any, Any]:
        a: Any = current
        b: Any = previous
        for key in path:
            a, b = a[key], b[key]
        return a, b

    volume_now, volume_before = both("volume", "conversations")
    backlog = current["backlog"]
    waiting = _card(
        "backlog_oldest",
        _("Backlog (now)"),
        backlog["oldest_waiting_seconds"],
        None,
        "seconds",
        targets,
        _("%(open)s open · %(pending)s pending · oldest waiting %(oldest)s")
        % {
            "open": backlog["open"],
            "pending": backlog["pending"],
            "oldest": format_duration(backlog["oldest_waiting_seconds"]),
        },
    )
    # The count is the headline; the colour follows the oldest wait (its target).
    waiting.display = f"{backlog['open'] + backlog['pending']:,}"
    if backlog["oldest_waiting_seconds"] is None:
        waiting.colour = "green" if waiting.target else "none"
    return [
        _card(
            "volume",
            _("Conversations"),
            volume_now,
            volume_before,
            "count",
            targets,
            _("%(n)s inbound messages") % {"n": current["volume"]["inbound_messages"]},
        ),
        _card(
            "frt_median",
            _("First response (median)"),
            *both("frt", "median_seconds"),
            "seconds",
            targets,
            _("p90 %(p90)s · %(n)s replied")
            % {"p90": format_duration(current["frt"]["p90_seconds"]), "n": current["frt"]["count"]},
        ),
        _card(
            "business_frt_median",
            _("First response, business hours"),
            *both("business_frt", "median_seconds"),
            "seconds",
            targets,
            _("p90 %(p90)s") % {"p90": format_duration(current["business_frt"]["p90_seconds"])},
        ),
        _card(
            "resolution_median",
            _("Resolution time (median)"),
            *both("resolution", "median_seconds"),
            "seconds",
            targets,
            _("p90 %(p90)s · %(n)s resolved")
            % {
                "p90": format_duration(current["resolution"]["p90_seconds"]),
                "n": current["resolution"]["count"],
            },
        ),
        _card(
            "fcr",
            _("First contact resolution"),
            *both("fcr", "percent"),
            "percent",
            targets,
            _("%(a)s of %(b)s resolved")
            % {"a": current["fcr"]["first_contact"], "b": current["fcr"]["resolved"]},
        ),
        _card(
            "csat",
            _("CSAT"),
            *both("csat", "percent"),
            "percent",
            targets,
            _("%(n)s responses · %(rate)s response rate")
            % {
                "n": current["csat"]["responses"],
                "rate": format_value(current["csat"]["response_rate"], "percent"),
            },
        ),
        _card(
            "nps",
            _("NPS"),
            *both("nps", "score"),
            "score",
            targets,
            _("%(p)s promoters · %(s)s passives · %(d)s detractors")
            % {
                "p": current["nps"]["promoters"],
                "s": current["nps"]["passives"],
                "d": current["nps"]["detractors"],
            },
        ),
        _card(
            "channel_switch",
            _("Channel switch rate"),
            *both("channel_switch", "percent"),
            "percent",
            targets,
            _("%(a)s of %(b)s conversations")
            % {
                "a": current["channel_switch"]["switched"],
                "b": current["channel_switch"]["conversations"],
            },
        ),
        waiting,
    ]


# --- grouped aggregates --------------------------------------------------------------


def grouped_median(queryset: QuerySet[Any], group: str, value: str) -> dict[Any, float | None]:
    """Median of `value` per `group` value (percentile_cont on PostgreSQL)."""
    queryset = queryset.filter(**{f"{value}__isnull": False}).order_by()
    if uses_percentile_cont():
        return {
            row[group]: row["median"]
            for row in queryset.values(group).annotate(median=PercentileCont(value, 0.5))
        }
    values: dict[Any, list[float]] = defaultdict(list)
    for key, number in queryset.values_list(group, value):
        values[key].append(number)
    return {key: percentile_cont(numbers, 0.5) for key, numbers in values.items()}


@dataclass
class Row:
    key: Any
    name: str
    conversations: int = 0
    frt_median: float | None = None
    resolved: int = 0
    resolution_median: float | None = None
    fcr: float | None = None
    csat: float | None = None
    csat_responses: int = 0
    cells: list[str] = field(default_factory=list)


def _table(query: KpiQuery, group: str, csat_group: str, names: dict[Any, str]) -> list[Row]:
    start, end, filters = query.start, query.end, query.filters
    created = compute.created_facts(start, end, filters)
    resolved = compute.resolved_facts(start, end, filters)
    rows: dict[Any, Row] = {}

    def row(key: Any) -> Row:
        if key not in rows:
            rows[key] = Row(key, names.get(key, str(key) if key else _("(none)")))
        return rows[key]

    for item in created.values(group).annotate(n=Count("pk")).order_by():
        row(item[group]).conversations = item["n"]
    for key, median in grouped_median(created, group, "frt_seconds").items():
        row(key).frt_median = median
    for key, median in grouped_median(resolved, group, "resolution_seconds").items():
        row(key).resolution_median = median
    for item in (
        resolved.values(group)
        .annotate(n=Count("pk"), first=Count("pk", filter=Q(fcr=True)))
        .order_by()
    ):
        r = row(item[group])
        r.resolved = item["n"]
        r.fcr = item["first"] * 100.0 / item["n"] if item["n"] else None
    responses = compute._responses(start, end, filters, "csat")
    for item in (
        responses.values(csat_group)
        .annotate(n=Count("pk"), good=Count("pk", filter=Q(score__gte=4)))
        .order_by()
    ):
        r = row(item[csat_group])
        r.csat_responses = item["n"]
        r.csat = item["good"] * 100.0 / item["n"] if item["n"] else None
    result = sorted(rows.values(), key=lambda r: (-r.conversations, r.name))
    for r in result:
        r.cells = [
            r.name,
            str(r.conversations),
            format_duration(r.frt_median),
            str(r.resolved),
            format_duration(r.resolution_median),
            format_value(r.fcr, "percent"),
            format_value(r.csat, "percent"),
            str(r.csat_responses),
        ]
    return result


TABLE_HEADERS = [
    _("Name"),
    _("Conversations"),
    _("FRT median"),
    _("Resolved"),
    _("Resolution median"),
    _("FCR"),
    _("CSAT"),
    _("CSAT responses"),
]


def channel_table(query: KpiQuery) -> list[Row]:
    names = {value: str(label) for value, label in Channel.choices}
    return _table(query, "channel", "conversation__first_channel", names)


def agent_table(query: KpiQuery) -> list[Row]:
    names = {a.pk: a.display_name for a in Agent.objects.only("pk", "name", "email")}
    return _table(query, "agent_id", "conversation__assignee_id", names)


def team_table(query: KpiQuery) -> list[Row]:
    names = {t.pk: t.name for t in Team.objects.only("pk", "name")}
    return _table(query, "team_id", "conversation__team_id", names)


# --- trends ------------------------------------------------------------------------------


@dataclass
class Chart:
    title: str
    unit: str
    points: list[tuple[date, float | None]]
    width: int = 560
    height: int = 140
    bars: list[dict[str, Any]] = field(default_factory=list)
    line: str = ""
    dots: list[dict[str, Any]] = field(default_factory=list)
    max_label: str = ""
    first_label: str = ""
    last_label: str = ""
    kind: str = "line"

    def layout(self) -> Chart:
        values = [v for _d, v in self.points if v is not None]
        top = max(values) if values else 0.0
        top = top or 1.0
        n = max(len(self.points), 1)
        step = self.width / n
        usable = self.height - 10
        self.max_label = format_value(top, self.unit) if values else "—"
        if self.points:
            self.first_label = self.points[0][0].strftime("%d %b")
            self.last_label = self.points[-1][0].strftime("%d %b")
        coords = []
        for i, (day, value) in enumerate(self.points):
            if value is None:
                continue
            x = i * step + step / 2
            y = self.height - (value / top) * usable
            label = f"{day.isoformat()}: {format_value(value, self.unit)}"
            if self.kind == "bar":
                self.bars.append(
                    {
                        "x": round(i * step + step * 0.15, 1),
                        "y": round(y, 1),
                        "w": round(step * 0.7, 1),
                        "h": round(self.height - y, 1),
                        "label": label,
                    }
                )
            else:
                coords.append(f"{x:.1f},{y:.1f}")
                self.dots.append({"x": round(x, 1), "y": round(y, 1), "label": label})
        self.line = " ".join(coords)
        return self


def trends(query: KpiQuery, span: int) -> list[Chart]:
    """Daily charts for the `span` days ending with the period."""
    end = query.end
    start = end - timedelta(days=span)
    filters = query.filters
    series = days(start, end)
    created = compute.created_facts(start, end, filters)
    volume = {
        row["created_day"]: row["n"]
        for row in created.values("created_day").annotate(n=Count("pk")).order_by()
    }
    frt = grouped_median(created, "created_day", "frt_seconds")
    resolved = compute.resolved_facts(start, end, filters)
    fcr = {
        row["resolved_day"]: row["first"] * 100.0 / row["n"]
        for row in resolved.values("resolved_day")
        .annotate(n=Count("pk"), first=Count("pk", filter=Q(fcr=True)))
        .order_by()
        if row["n"]
    }
    lo, hi = compute.period_bounds(start, end)
    csat_days: dict[date, list[int]] = defaultdict(list)
    responses = filters.conversations(
        SurveyResponse.objects.filter(survey="csat", received_at__gte=lo, received_at__lt=hi),
        "conversation__",
    )
    for received, score in responses.values_list("received_at", "score"):
        csat_days[local_day(received)].append(score)
    csat = {
        day: sum(1 for s in scores if s >= 4) * 100.0 / len(scores)
        for day, scores in csat_days.items()
    }
    return [
        Chart(
            _("Conversations per day"),
            "count",
            [(d, float(volume.get(d, 0))) for d in series],
            kind="bar",
        ).layout(),
        Chart(_("First response, median"), "seconds", [(d, frt.get(d)) for d in series]).layout(),
        Chart(_("First contact resolution"), "percent", [(d, fcr.get(d)) for d in series]).layout(),
        Chart(_("CSAT"), "percent", [(d, csat.get(d)) for d in series]).layout(),
    ]


# --- the matrix ----------------------------------------------------------------------------


def heat_map(matrix: dict[str, dict[str, int]]) -> dict[str, Any]:
    channels = sorted(set(matrix) | {b for row in matrix.values() for b in row})
    top = max((n for row in matrix.values() for n in row.values()), default=0)
    rows = []
    for a in channels:
        cells = []
        for b in channels:
            n = matrix.get(a, {}).get(b, 0)
            cells.append(
                {
                    "count": n,
                    "alpha": round(0.12 + 0.88 * n / top, 2) if n and top else 0,
                    "diagonal": a == b,
                }
            )
        rows.append({"channel": a, "cells": cells})
    return {"channels": channels, "rows": rows}


# --- everything ----------------------------------------------------------------------------


def build(query: KpiQuery, span: int = 30) -> dict[str, Any]:
    """The dashboard's context, cached per facts version; the backlog card is live."""
    f = query.filters
    key = f"kpi:dashboard:{facts_version()}:{query.start}:{query.end}:{f.key()}:{span}"
    context = cache.get(key)
    if context is None:
        current = compute.summary(query.start, query.end, f)
        prev_start, prev_end = previous_period(query.start, query.end)
        previous = compute.summary(prev_start, prev_end, f)
        context = {
            "summary": current,
            "previous_summary": previous,
            "previous_period": (prev_start, prev_end),
            "charts": trends(query, span),
            "channels": channel_table(query),
            "agents": agent_table(query),
            "teams": team_table(query),
            "heat_map": heat_map(current["channel_switch"]["matrix"]),
        }
        cache.set(key, context, CACHE_SECONDS)
    current = {**context["summary"], "backlog": compute.backlog(f, max_age=compute.BACKLOG_MAX_AGE)}
    targets = list(KpiTarget.objects.all())  # live: editable on the page
    targets_key = repr(
        [(t.metric, t.label, t.green, t.amber, t.direction, t.unit) for t in targets]
    )
    all_cards = cards(current, context["previous_summary"], targets)
    context = {
        **context,
        "summary": current,
        "cards": all_cards,
        # The backlog card shows the oldest wait to the second: rendered every time.
        "facts_cards": [c for c in all_cards if c.metric != "backlog_oldest"],
        "live_cards": [c for c in all_cards if c.metric == "backlog_oldest"],
        "targets": targets,
        "generated_at": timezone.now(),
        # The template caches what follows the facts alone (charts, tables) under it,
        # the other cards under the facts and the targets, and the targets form under
        # the targets: each fragment under everything it shows.
        "board_key": key,
        "cards_key": repr((key, targets_key)),
        "targets_key": targets_key,
    }
    return context


__all__ = ["build", "summary_for"]
