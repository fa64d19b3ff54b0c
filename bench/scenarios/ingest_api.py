"""Signed webhook ingestion end to end on the `api` channel.

ours: N signed POSTs to /hooks/api/<slug>/ (bounded concurrent client) -> stored
InboundEvent -> Celery worker -> parse -> record_inbound -> published on the
channel layer; messages/s from the first POST until every event is `processed`
(polled every 0.1 s), and the count of realtime messages a listener on the agents
group received. baselines, in the same database: bare psycopg INSERTs of the same
raw rows into a copy of the event table (same constraints and indexes), one
autocommit INSERT per row, and batched (executemany in one transaction).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.lib import Context, Result, http_load
from bench.scenarios._layer import Listener

PRIORITY = 80
EVENTS = 1000
CONCURRENCY = 16
CONTACTS = 300  # messages per contact join its open conversation (continuity)


def _payload(run_id: str, i: int) -> bytes:
    return json.dumps(
        {
            "id": f"bench-{run_id}-{i}",
            "contact": {
                "name": f"Bench Customer {i % CONTACTS}",
                "email": f"ingest{i % CONTACTS}@bench.example.com",
            },
            "body": f"Hello, my order {10000 + i} has not arrived yet, can you check the delivery?",
            "timestamp": datetime.now(UTC).isoformat(),
        }
    ).encode()


def run(ctx: Context) -> list[Result]:
    import psycopg

    from channels_in.adapters.api import SIGNATURE_HEADER, sign
    from conversations.realtime import AGENTS_GROUP

    run_id = uuid.uuid4().hex[:8]
    bodies = [_payload(run_id, i) for i in range(EVENTS)]
    headers = [
        {"Content-Type": "application/json", SIGNATURE_HEADER: sign(ctx.api_secret, b)}
        for b in bodies
    ]
    path = f"/hooks/api/{ctx.api_inbox_slug}/"
    listener = Listener(ctx.redis_url, [AGENTS_GROUP]).start()
    try:
        with psycopg.connect(ctx.dsn, autocommit=True) as conn:
            start = time.perf_counter()
            lat = http_load(
                ctx.base_url,
                lambda i: ("POST", path, {"content": bodies[i], "headers": headers[i]}),
                total=EVENTS,
                concurrency=CONCURRENCY,
                max_seconds=300,
            )
            accepted = time.perf_counter() - start
            processed = failed = 0
            deadline = time.monotonic() + 600
            progress_at, last = time.monotonic(), -1
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE status = 'processed'), "
                    "count(*) FILTER (WHERE status = 'failed') "
                    "FROM channels_in_inboundevent WHERE provider_event_id LIKE %s",
                    (f"bench-{run_id}-%",),
                ).fetchone()
                assert row is not None
                processed, failed = row
                if processed + failed >= lat.count:
                    break
                if processed != last:
                    progress_at, last = time.monotonic(), processed
                elif time.monotonic() - progress_at > 60:
                    break  # stalled: report what was done
                time.sleep(0.1)
            done = time.perf_counter() - start
            # The last batch's publishes leave right after its commit: wait for them
            # (up to 10 s) rather than count a late one as lost.
            settle = time.monotonic() + 10
            while listener.messages.qsize() < processed and time.monotonic() < settle:
                time.sleep(0.05)
        published = listener.messages.qsize()
    finally:
        listener.stop()
    per_row, batched = _baselines(ctx)
    rate = processed / done if done else 0.0
    notes = (
        f"{EVENTS} POSTs, {lat.errors} refused, {processed} processed ({failed} failed) "
        f"in {done:.1f}s "
        f"(all accepted in {accepted:.1f}s, HTTP p50 {lat.p50:.0f} ms p99 {lat.p99:.0f} ms); "
        f"{published} realtime messages received on the agents group; "
        f"{CONTACTS} contacts, concurrency {CONCURRENCY}"
    )
    if processed < lat.count:
        notes = f"INCOMPLETE: {lat.count - processed} not processed! " + notes
    return [
        Result(
            "ingest_api",
            "signed webhook -> processed -> published (vs per-row INSERT)",
            rate,
            "msg/s",
            baseline=per_row,
            baseline_label="bare INSERT per row, autocommit",
            notes=notes,
        ),
        Result(
            "ingest_api",
            "signed webhook -> processed -> published (vs batched INSERT)",
            rate,
            "msg/s",
            baseline=batched,
            baseline_label="bare INSERT batched, one transaction",
        ),
    ]


def _baselines(ctx: Context) -> tuple[float, float]:
    """Rows/s of bare INSERTs of the same raw webhook rows."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        inbox_id = conn.execute(
            "SELECT id FROM channels_in_inbox WHERE slug = %s", (ctx.api_inbox_slug,)
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE IF EXISTS bench_raw_events")
        conn.execute("CREATE TABLE bench_raw_events (LIKE channels_in_inboundevent INCLUDING ALL)")
        sql = (
            "INSERT INTO bench_raw_events (inbox_id, provider_event_id, topic, body, headers, "
            "status, error, attempts, received_at) "
            "VALUES (%s, %s, '', %s, %s, 'received', '', 0, now())"
        )

        def rows(tag: str) -> list[tuple[Any, ...]]:
            return [
                (
                    inbox_id,
                    f"{tag}-{i}",
                    _payload(tag, i),
                    Jsonb({"Content-Type": "application/json"}),
                )
                for i in range(EVENTS)
            ]

        one = rows("row")
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for row in one:
                cur.execute(sql, row)
        per_row = EVENTS / (time.perf_counter() - t0)
        many = rows("batch")
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, many)
        batched = EVENTS / (time.perf_counter() - t0)
        conn.execute("DROP TABLE bench_raw_events")
    return per_row, batched
