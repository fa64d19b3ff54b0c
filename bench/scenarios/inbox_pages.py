"""The agent inbox's pages over HTTP: the conversation list, one conversation, search.

ours: p50/p95/p99 of 1,000 requests per page through uvicorn as a signed-in admin
agent, 2 in flight (PAGE_CONCURRENCY: 2 cores, one uvicorn process per core),
after 20 uncounted warm-up requests (targets: list and conversation p95 <= 30 ms,
search p95 <= 100 ms at 1M entries).
baseline: the bare SQL of each page's main query (the list's first page, the
contact's timeline page, the full-text hits), exactly as the ORM generates it,
on one psycopg connection; and, in the notes, the bare Django page (a fixed
HttpResponse through the same processes and middleware) measured right after.
"""

from __future__ import annotations

import random
from typing import Any

from bench.lib import PAGE_CONCURRENCY, Context, Result, page_latency

GROWS = True
PRIORITY = 25
REQUESTS = 1000
CONCURRENCY = PAGE_CONCURRENCY
# A word the demo data surely contains, and a rarer one.
SEARCH_WORDS = ("order", "refund", "invoice", "delivery")


def _admin() -> Any:
    from helpdesk.models import Agent

    return (
        Agent.objects.filter(is_superuser=True).order_by("pk").first()
        or Agent.objects.filter(role="admin").order_by("pk").first()
    )


def _sql(qs: Any) -> tuple[str, Any]:
    sql, params = qs.query.sql_with_params()
    return sql, params


def _measure(
    ctx: Context, label: str, paths: list[str], baseline: list[tuple[str, Any]]
) -> list[Result]:
    return page_latency(
        ctx, "inbox", label, paths, baseline, requests=REQUESTS, concurrency=CONCURRENCY
    )


def run(ctx: Context) -> list[Result]:
    from conversations import listing, search, timeline
    from conversations.models import Conversation

    admin = _admin()
    if admin is None:
        return []
    rng = random.Random(4)  # noqa: S311 - picking sample pages, not secrets

    q = listing.ListQuery()
    list_qs, _key = listing.page_queryset(admin, q)
    rows = _measure(ctx, "GET /inbox/ (active, waiting longest)", ["/inbox/"], [_sql(list_qs)])

    newest = listing.ListQuery(sort="newest")
    newest_qs, _key = listing.page_queryset(admin, newest)
    rows += _measure(ctx, "GET /inbox/?sort=newest", ["/inbox/?sort=newest"], [_sql(newest_qs)])

    top = max(Conversation.objects.order_by("-pk").values_list("pk", flat=True)[:1] or [0])
    ids = sorted({rng.randint(1, top) for _ in range(50)}) if top else []
    sample = list(Conversation.objects.filter(pk__in=ids).select_related("contact")[:20])
    if sample:
        rows += _measure(
            ctx,
            "GET /inbox/c/<id>/ (unified timeline)",
            [f"/inbox/c/{c.pk}/" for c in sample],
            [_sql(timeline.page_queryset(sample[0].contact))],
        )

    rows += _measure(
        ctx,
        "GET /inbox/search/?q=<word>",
        [f"/inbox/search/?q={w}" for w in SEARCH_WORDS],
        [_sql(search.entries_queryset(admin, SEARCH_WORDS[0]))],
    )
    return rows
