"""The manager's dashboard, its CSV exports and targets form, and the public survey page."""

from __future__ import annotations

import csv
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from conversations.models import Channel
from helpdesk.models import Agent, Team
from kpi import dashboard
from kpi.access import require_kpi_access
from kpi.actions import SurveyError, TargetError, record_survey_response, set_target
from kpi.models import KpiTarget
from kpi.params import KpiQuery, ParamError, parse_query
from kpi.surveys import request_from_token
from kpi.windows import local_day

SPANS = (30, 90)


def _query(request: HttpRequest) -> tuple[KpiQuery, int]:
    """The period from the query string; by default the last `span` days up to today."""
    data: dict[str, Any] = request.GET.dict()
    try:
        span = int(data.get("span") or 30)
    except ValueError:
        span = 30
    span = span if span in SPANS else 30
    if not data.get("start") or not data.get("end"):
        end = local_day(timezone.now()) + timedelta(days=1)
        data["end"] = end.isoformat()
        data["start"] = (end - timedelta(days=span)).isoformat()
    return parse_query(data), span


def _context(request: HttpRequest) -> dict[str, Any]:
    query, span = _query(request)
    context = dashboard.build(query, span)
    params = query.as_params()
    teams = [(t.pk, t.name) for t in Team.objects.only("pk", "name")]
    agents = [
        (a.pk, a.display_name)
        for a in Agent.objects.filter(is_active=True).only("pk", "name", "email")
    ]
    f = query.filters
    context.update(
        {
            "query": query,
            "span": span,
            "spans": SPANS,
            "params": "&".join(f"{k}={v}" for k, v in params.items()) + f"&span={span}",
            "channel_choices": Channel.choices,
            "teams_all": teams,
            "agents_all": agents,
            # The template caches the filter menus under everything they show.
            "filters_key": repr((f.channel, f.team_id, f.agent_id, span, teams, agents)),
            "table_headers": dashboard.TABLE_HEADERS,
            "end_inclusive": query.end - timedelta(days=1),
        }
    )
    return context


@login_required
def index(request: HttpRequest) -> HttpResponse:
    require_kpi_access(request.user)
    try:
        context = _context(request)
    except ParamError as exc:
        return render(request, "kpi/dashboard.html", {"error": str(exc)}, status=400)
    template = "kpi/snippets/board.html" if request.GET.get("partial") else "kpi/dashboard.html"
    return render(request, template, context)


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kpi-{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _raw_row(row: dashboard.Row) -> list[Any]:
    return [
        row.name,
        row.conversations,
        row.frt_median,
        row.resolved,
        row.resolution_median,
        row.fcr,
        row.csat,
        row.csat_responses,
    ]


@login_required
def export(request: HttpRequest, table: str) -> HttpResponse:
    """Every table of the page as CSV, raw numbers (seconds, percent), same filters."""
    require_kpi_access(request.user)
    try:
        context = _context(request)
    except ParamError as exc:
        return HttpResponseBadRequest(str(exc))
    header = [
        "name",
        "conversations",
        "frt_median_seconds",
        "resolved",
        "resolution_median_seconds",
        "fcr_percent",
        "csat_percent",
        "csat_responses",
    ]
    if table in ("channels", "agents", "teams"):
        return _csv(table, header, [_raw_row(r) for r in context[table]])
    if table == "summary":
        rows = [[c.metric, c.value, c.previous, c.colour] for c in context["cards"]]
        return _csv(table, ["metric", "value", "previous_period", "colour"], rows)
    if table == "matrix":
        matrix = context["summary"]["channel_switch"]["matrix"]
        rows = [[a, b, n] for a, row in sorted(matrix.items()) for b, n in sorted(row.items())]
        return _csv(table, ["from_channel", "to_channel", "conversations"], rows)
    if table == "trends":
        charts = context["charts"]
        rows = [
            [day.isoformat(), *[chart.points[i][1] for chart in charts]]
            for i, (day, _v) in enumerate(charts[0].points)
        ]
        return _csv(
            table,
            ["day", "conversations", "frt_median_seconds", "fcr_percent", "csat_percent"],
            rows,
        )
    raise Http404("no such table")


@login_required
@require_POST
def targets(request: HttpRequest) -> HttpResponse:
    require_kpi_access(request.user)
    errors = []
    for target in KpiTarget.objects.all():
        green = request.POST.get(f"{target.metric}-green")
        amber = request.POST.get(f"{target.metric}-amber")
        direction = request.POST.get(f"{target.metric}-direction", target.direction)
        if green is None or amber is None:
            continue
        try:
            set_target(target.metric, green=float(green), amber=float(amber), direction=direction)
        except ValueError as exc:
            message = str(exc) if isinstance(exc, TargetError) else _("not a number")
            errors.append(f"{target.label}: {message}")
    if errors:
        return HttpResponseBadRequest("; ".join(errors))
    return redirect(request.POST.get("next") or "kpi:index")


@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """The public page an e-mailed survey link opens: works once, expires."""
    try:
        survey_request = request_from_token(token)
    except SurveyError as exc:
        return render(request, "kpi/survey.html", {"error": str(exc)}, status=410)
    low, high = (1, 5) if survey_request.survey == "csat" else (0, 10)
    context: dict[str, Any] = {
        "survey_request": survey_request,
        "scores": list(range(low, high + 1)),
        "low": low,
        "high": high,
    }
    if survey_request.answered_at is not None:
        return render(request, "kpi/survey.html", {**context, "done": True, "again": True})
    if not survey_request.is_open_at(timezone.now()):
        error = _("This survey link has expired.")
        return render(request, "kpi/survey.html", {**context, "error": error}, status=410)
    if request.method == "POST":
        try:
            score = int(request.POST.get("score", ""))
        except ValueError:
            context["error"] = _("Please choose a score.")
            return render(request, "kpi/survey.html", context, status=400)
        try:
            record_survey_response(
                survey_request.conversation,
                survey=survey_request.survey,
                score=score,
                comment=request.POST.get("comment", ""),
                channel=survey_request.channel,
                request=survey_request,
            )
        except SurveyError as exc:
            context["error"] = str(exc)
            return render(request, "kpi/survey.html", context, status=400)
        return render(request, "kpi/survey.html", {**context, "done": True})
    return render(request, "kpi/survey.html", context)
