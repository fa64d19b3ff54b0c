"""REST API: the conversation list endpoint, GET /api/v1/conversations/.

ours: p50/p95/p99 of 1,000 requests with a personal API token (an admin agent, so
every conversation is visible) through uvicorn, first page of 50, newest first,
one request at a time (the endpoint's own latency) and 2 in flight
(PAGE_CONCURRENCY: 2 cores, one uvicorn process per core); and 2 in flight with
the inbox's most selective filters (status=open&assignee=none); 20 uncounted
warm-up requests first.
baseline: the bare SQL of the endpoint's queries on one psycopg connection: the
token lookup, the page (with contact and assignee joined) and the labels of the
page's conversations, as Django generates them; and, in the notes, the bare
Django page (a fixed HttpResponse through the same stack) at the same concurrency,
measured right after.

Target (issue 10): p95 <= 30 ms at full scale (100,000 conversations / 1,000,000
entries). Each figure uses its own agent so the per-agent rate limit
(API_RATE_USER, default 1200/min) never throttles the run.
"""

from __future__ import annotations

from typing import Any

from bench.lib import (
    PAGE_CONCURRENCY,
    WARMUP_REQUESTS,
    Context,
    Result,
    bare_page_latency,
    http_load,
    sql_latency,
)

GROWS = True
PRIORITY = 25
REQUESTS = 1000
CONCURRENCY = PAGE_CONCURRENCY
PAGE = 50


def _token(email: str) -> tuple[Any, str]:
    from helpdesk import tokens
    from helpdesk.models import Agent

    agent = Agent.objects.filter(email=email).first()
    if agent is None:
        agent = Agent.objects.create_user(email, role=Agent.Role.ADMIN)
    token, raw = tokens.create_token(agent, scope="read", name="bench")
    return token, raw


def baseline_sql(token_hash: str, filters: dict[str, Any]) -> list[tuple[str, Any]]:
    """The endpoint's queries for an admin, taken from the same querysets it uses."""
    from conversations.api import LIST_FIELDS
    from conversations.models import Conversation
    from helpdesk.models import ApiToken

    token_sql, token_params = (
        ApiToken.objects.active()
        .select_related("agent")
        .filter(token_hash=token_hash)
        .order_by("-created_at", "-id")[:1]
        .query.sql_with_params()
    )
    page = (
        Conversation.objects.filter(**filters)
        .select_related("contact", "assignee")
        .only(*LIST_FIELDS)
        .order_by("-id")[: PAGE + 1]
    )
    ids = list(page.values_list("id", flat=True))
    page_sql, page_params = page.query.sql_with_params()
    # The page's label names, as conversations.api._attach_label_names reads them.
    labels_sql, labels_params = (
        Conversation.labels.through.objects.filter(conversation_id__in=ids or [0])
        .order_by("label__name")
        .values_list("conversation_id", "label__name")
        .query.sql_with_params()
    )
    return [
        (token_sql, token_params),
        (page_sql, page_params),
        (labels_sql, labels_params),
    ]


def _figure(
    ctx: Context,
    label: str,
    email: str,
    query: str,
    filters: dict[str, Any],
    concurrency: int = CONCURRENCY,
) -> list[Result]:
    token, raw = _token(email)
    headers = {"Authorization": f"Bearer {raw}"}
    path = f"/api/v1/conversations/?page_size={PAGE}{'&' + query if query else ''}"
    probe = http_load(
        ctx.base_url, lambda i: ("GET", path, {"headers": headers}), total=WARMUP_REQUESTS
    )
    lat = http_load(
        ctx.base_url,
        lambda i: ("GET", path, {"headers": headers}),
        total=REQUESTS,
        concurrency=concurrency,
        max_seconds=180,
    )
    bare = bare_page_latency(ctx, requests=REQUESTS, concurrency=concurrency)
    base = sql_latency(ctx.dsn, baseline_sql(token.token_hash, filters), repeat=REQUESTS)
    notes = f"{lat.describe()}; concurrency {concurrency}; page {PAGE}"
    if probe.errors:
        notes = f"probe failed {probe.statuses}! " + notes
    rows = [
        Result(
            "api_list",
            f"{label} (concurrency {concurrency}) {q}",
            getattr(lat, q),
            "ms",
            baseline=getattr(base, q),
            baseline_label=f"bare SQL {q}",
            notes=f"bare Django page {q} {getattr(bare, q):.1f} ms"
            + ("; " + notes if q == "p95" else ""),
        )
        for q in ("p50", "p95", "p99")
    ]
    if lat.errors:
        rows[0].notes = f"{lat.errors} errors! " + rows[0].notes + "; " + notes
    return rows


def run(ctx: Context) -> list[Result]:
    # One client at a time: the endpoint's own latency, no queueing behind others.
    rows = _figure(ctx, "GET /api/v1/conversations/", "bench-api-0@example.com", "", {}, 1)
    rows += _figure(ctx, "GET /api/v1/conversations/", "bench-api-1@example.com", "", {})
    rows += _figure(
        ctx,
        "GET /api/v1/conversations/?status=open&assignee=none",
        "bench-api-2@example.com",
        "status=open&assignee=none",
        {"status": "open", "assignee__isnull": True},
    )
    return rows
