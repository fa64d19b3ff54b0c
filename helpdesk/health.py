"""/healthz and /metrics: what an operator's probes and Prometheus read."""

from __future__ import annotations

import time
from functools import cache as memoize
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from helpdesk.tasks import HEARTBEAT_KEY

WS_CONNECTIONS_KEY = "helpdesk:ws-connections"


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


@memoize
def _client(url: str) -> redis.Redis:
    # One pool per process; short timeouts so a dead Redis makes /healthz answer 503
    # quickly instead of hanging the probe.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except DatabaseError as exc:
        return {"ok": False, "error": str(exc)}


def _check_redis() -> dict[str, Any]:
    try:
        _redis().ping()
        return {"ok": True}
    except redis.RedisError as exc:
        return {"ok": False, "error": str(exc)}


def _check_worker() -> dict[str, Any]:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # noqa: BLE001 - the cache is Redis; reported, not raised
        return {"ok": False, "error": str(exc)}
    if beat is None:
        return {"ok": False, "error": "no worker heartbeat yet"}
    age = time.time() - float(beat)
    return {
        "ok": age <= settings.WORKER_HEARTBEAT_MAX_AGE,
        "last_heartbeat_seconds_ago": round(age, 1),
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "redis": _check_redis(), "worker": _check_worker()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if _client_ip(request) not in settings.METRICS_ALLOWED_IPS:
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    from channels_in.models import InboundEvent
    from conversations.models import Entry

    lines = [
        "# HELP helpdesk_inbound_events Inbound provider events by inbox kind and status.",
        "# TYPE helpdesk_inbound_events gauge",
    ]
    rows = InboundEvent.objects.values("inbox__kind", "status").annotate(n=Count("id"))
    lines += [
        f'helpdesk_inbound_events{{kind="{r["inbox__kind"]}",status="{r["status"]}"}} {r["n"]}'
        for r in rows.order_by("inbox__kind", "status")
    ]
    failed = Entry.objects.filter(delivery_status=Entry.Delivery.FAILED).values("channel")
    lines += [
        "# HELP helpdesk_outbound_failed Replies that failed for good, by channel.",
        "# TYPE helpdesk_outbound_failed gauge",
    ]
    lines += [
        f'helpdesk_outbound_failed{{channel="{r["channel"]}"}} {r["n"]}'
        for r in failed.annotate(n=Count("id")).order_by("channel")
    ]
    try:
        client = _redis()
        depth = client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
        sockets = int(client.get(WS_CONNECTIONS_KEY) or 0)
        lines += [
            "# HELP helpdesk_queue_depth Tasks waiting in the Celery queue.",
            "# TYPE helpdesk_queue_depth gauge",
            f"helpdesk_queue_depth {depth}",
            "# HELP helpdesk_websocket_connections Open websocket connections.",
            "# TYPE helpdesk_websocket_connections gauge",
            f"helpdesk_websocket_connections {sockets}",
        ]
    except redis.RedisError:
        lines.append("# redis unavailable")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
