"""Parsing the period and filter of a KPI query: one place for the API, the page and
the command, so the same arguments give the same numbers everywhere."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from conversations.models import Channel
from helpdesk.models import Agent, Team
from kpi import compute
from kpi.actions import facts_version
from kpi.compute import Filters

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DAYS = 3700
CACHE_SECONDS = 300


class ParamError(ValueError):
    """Bad query parameters; the message says which and why."""


@dataclass(frozen=True)
class KpiQuery:
    start: date
    end: date
    filters: Filters

    def as_params(self) -> dict[str, str]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.filters.channel:
            params["channel"] = self.filters.channel
        if self.filters.team_id:
            params["team"] = str(self.filters.team_id)
        if self.filters.agent_id:
            params["agent"] = str(self.filters.agent_id)
        return params


def parse_day(value: str | None, name: str) -> date:
    if not value:
        raise ParamError(_("%(name)s is required (YYYY-MM-DD).") % {"name": name})
    if not _DATE_RE.match(value):
        raise ParamError(
            _("%(name)s must be a date as YYYY-MM-DD, got %(value)r.")
            % {"name": name, "value": value}
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ParamError(
            _("%(name)s is not a valid date: %(value)r.") % {"name": name, "value": value}
        ) from None


def _team_id(value: str) -> int:
    team = (
        Team.objects.filter(pk=int(value)).first()
        if value.isdigit()
        else Team.objects.filter(name__iexact=value).first()
    )
    if team is None:
        raise ParamError(_("Unknown team %(team)r.") % {"team": value})
    return team.pk


def _agent_id(value: str) -> int:
    agent = (
        Agent.objects.filter(pk=int(value)).first()
        if value.isdigit()
        else Agent.objects.filter(email__iexact=value).first()
    )
    if agent is None:
        raise ParamError(_("Unknown agent %(agent)r.") % {"agent": value})
    return agent.pk


def parse_query(data: Mapping[str, Any]) -> KpiQuery:
    """start and end (end exclusive) plus optional channel, team (id or name), agent
    (id or e-mail); raises ParamError."""
    start = parse_day(data.get("start"), "start")
    end = parse_day(data.get("end"), "end")
    if end <= start:
        raise ParamError(_("end must be after start (end is exclusive)."))
    if end - start > timedelta(days=MAX_DAYS):
        raise ParamError(_("The period may be at most %(days)d days.") % {"days": MAX_DAYS})
    channel = (data.get("channel") or "").strip() or None
    if channel is not None and channel not in Channel.values:
        raise ParamError(
            _("Unknown channel %(channel)r; expected one of %(choices)s.")
            % {"channel": channel, "choices": ", ".join(Channel.values)}
        )
    team = (data.get("team") or "").strip()
    agent = (data.get("agent") or "").strip()
    return KpiQuery(
        start,
        end,
        Filters(
            channel=channel,
            team_id=_team_id(team) if team else None,
            agent_id=_agent_id(agent) if agent else None,
        ),
    )


def summary_for(query: KpiQuery) -> dict[str, Any]:
    """KPI.md's JSON. Stored-fact figures are cached per facts version (any refresh
    that changes facts bumps it); the live backlog is at most a few seconds old."""
    filters = query.filters
    key = f"kpi:summary:{facts_version()}:{query.start}:{query.end}:{filters.key()}"
    data = cache.get(key)
    if data is None:
        data = compute.summary(query.start, query.end, filters)
        cache.set(key, data, CACHE_SECONDS)
    else:
        data = {**data, "backlog": compute.backlog(filters, max_age=compute.BACKLOG_MAX_AGE)}
    return data
