"""Generic page latency over HTTP: /healthz and the admin conversation changelist.

ours: p50/p95/p99 of 1,000 requests, 2 in flight (PAGE_CONCURRENCY: 2 cores, one
uvicorn process per core), through uvicorn (the real ASGI app) as a logged-in
admin. baseline: the bare SQL of the page's main query on one psycopg connection
(for the changelist: its count and its first page, exactly as Django generates
them; for /healthz: SELECT 1); the notes carry the bare Django page (a fixed
HttpResponse through the same stack) measured in the same run.
"""

from __future__ import annotations

from typing import Any

from bench.lib import PAGE_CONCURRENCY, Context, Result, page_latency

GROWS = True
PRIORITY = 20
REQUESTS = 1000
CONCURRENCY = PAGE_CONCURRENCY


def changelist_sql() -> list[tuple[str, Any]]:
    """The changelist's main queries, taken from the admin's own queryset."""
    from django.contrib import admin

    from conversations.models import Conversation

    model_admin = admin.site._registry[Conversation]
    qs = Conversation.objects.all()
    if model_admin.list_select_related:
        qs = qs.select_related(*model_admin.list_select_related)
    ordering = list(model_admin.get_ordering(None) or Conversation._meta.ordering)  # type: ignore[arg-type]
    page = qs.order_by(*ordering, "-pk")[: model_admin.list_per_page]
    count_sql, count_params = Conversation.objects.all().values("pk").query.sql_with_params()
    page_sql, page_params = page.query.sql_with_params()
    return [
        (f"SELECT COUNT(*) FROM ({count_sql}) subquery", count_params),
        (page_sql, page_params),
    ]


def _page(ctx: Context, label: str, path: str, baseline_sql: list[tuple[str, Any]]) -> list[Result]:
    return page_latency(
        ctx, "pages", label, [path], baseline_sql, requests=REQUESTS, concurrency=CONCURRENCY
    )


def run(ctx: Context) -> list[Result]:
    rows = _page(ctx, "GET /healthz", "/healthz", [("SELECT 1", None)])
    rows += _page(
        ctx, "admin conversation changelist", "/admin/conversations/conversation/", changelist_sql()
    )
    return rows
