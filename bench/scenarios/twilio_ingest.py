"""Signed Twilio SMS webhooks ingested end to end, beside bare INSERTs.

ours: N SMS webhooks shaped like Twilio's, each signed by the `twilio` package's
RequestValidator for the URL it is POSTed to, through /hooks/twilio/<slug>/messages
(bounded concurrent client) -> signature verified -> InboundEvent stored -> empty
TwiML answered -> Celery worker -> parse -> record_inbound -> published on the
channel layer. messages/s from the first POST until every event is `processed`,
and the count of realtime messages a listener on the agents group received.
baselines, in the same database and run: bare psycopg INSERTs of the same raw rows
into a copy of the event table (same constraints and indexes), one autocommit
INSERT per row, and batched (executemany in one transaction).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from bench.lib import Context, Result, http_load
from bench.scenarios._layer import Listener

PRIORITY = 81
EVENTS = 1000
CONCURRENCY = 16
CONTACTS = 300
SLUG = "bench-twilio"
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-twilio-auth-token"  # noqa: S105 - a throwaway database
INBOX_NUMBER = "+38515550100"


def _ensure_inbox() -> None:
    from django.db import connections

    from channels_in import actions as channel_actions
    from channels_in.models import Inbox

    if not Inbox.objects.filter(slug=SLUG).exists():
        channel_actions.create_inbox(
            "twilio",
            SLUG,
            name="Bench Twilio",
            values={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "phone_number": INBOX_NUMBER,
            },
        )
    connections.close_all()


def _params(run_id: str, i: int) -> dict[str, str]:
    sid = f"SM{run_id}{i:024d}"
    sender = f"+3859100{i % CONTACTS:05d}"
    return {
        "ToCountry": "HR",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": f"Hello, my order {10000 + i} has not arrived yet, can you check the delivery?",
        "FromCountry": "HR",
        "To": INBOX_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def run(ctx: Context) -> list[Result]:
    import psycopg
    from twilio.request_validator import RequestValidator

    from conversations.realtime import AGENTS_GROUP

    _ensure_inbox()
    run_id = uuid.uuid4().hex[:8]
    path = f"/hooks/twilio/{SLUG}/messages"
    url = ctx.url(path)  # what Twilio would call, and sign
    validator = RequestValidator(AUTH_TOKEN)
    params = [_params(run_id, i) for i in range(EVENTS)]
    bodies = [urlencode(p).encode() for p in params]
    headers = [
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, p),
        }
        for p in params
    ]
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
            processed = 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE status = 'processed'), count(*) "
                    "FROM channels_in_inboundevent WHERE provider_event_id LIKE %s",
                    (f"SM{run_id}%",),
                ).fetchone()
                assert row is not None
                processed = row[0]
                if processed >= lat.count:
                    break
                time.sleep(0.1)
            done = time.perf_counter() - start
            entries = conn.execute(
                "SELECT count(*) FROM conversations_entry WHERE provider_id LIKE %s",
                (f"SM{run_id}%",),
            ).fetchone()[0]  # type: ignore[index]
            # The last batch's publishes leave right after its commit: wait for them
            # (up to 10 s) rather than count a late one as lost.
            settle = time.monotonic() + 10
            while listener.messages.qsize() < processed and time.monotonic() < settle:
                time.sleep(0.05)
        published = listener.messages.qsize()
    finally:
        listener.stop()
    per_row, batched = _baselines(ctx, bodies)
    rate = processed / done if done else 0.0
    notes = (
        f"{EVENTS} signed POSTs, {lat.errors} refused, {processed} processed into {entries} "
        f"timeline entries in {done:.1f}s (all accepted in {accepted:.1f}s, HTTP p50 "
        f"{lat.p50:.0f} ms p99 {lat.p99:.0f} ms); {published} realtime messages received on "
        f"the agents group; {CONTACTS} contacts, concurrency {CONCURRENCY}"
    )
    if processed < lat.count:
        notes = f"TIMED OUT with {lat.count - processed} unprocessed! " + notes
    print(f"twilio_ingest: {rate:.1f} msg/s; {notes}", file=sys.stderr, flush=True)
    return [
        Result(
            "twilio_ingest",
            "signed Twilio SMS webhook -> processed -> published (vs per-row INSERT)",
            rate,
            "msg/s",
            baseline=per_row,
            baseline_label="bare INSERT per row, autocommit",
            notes=notes,
        ),
        Result(
            "twilio_ingest",
            "signed Twilio SMS webhook -> processed -> published (vs batched INSERT)",
            rate,
            "msg/s",
            baseline=batched,
            baseline_label="bare INSERT batched, one transaction",
        ),
    ]


def _baselines(ctx: Context, bodies: list[bytes]) -> tuple[float, float]:
    """Rows/s of bare INSERTs of the same raw webhook rows."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        inbox_id = conn.execute(
            "SELECT id FROM channels_in_inbox WHERE slug = %s", (SLUG,)
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE IF EXISTS bench_twilio_raw_events")
        conn.execute(
            "CREATE TABLE bench_twilio_raw_events (LIKE channels_in_inboundevent INCLUDING ALL)"
        )
        sql = (
            "INSERT INTO bench_twilio_raw_events (inbox_id, provider_event_id, topic, body, "
            "headers, status, error, attempts, received_at) "
            "VALUES (%s, %s, 'messages', %s, %s, 'received', '', 0, now())"
        )
        headers = Jsonb({"Content-Type": "application/x-www-form-urlencoded"})

        def rows(tag: str) -> list[tuple[Any, ...]]:
            return [(inbox_id, f"{tag}-{i}", body, headers) for i, body in enumerate(bodies)]

        one = rows("row")
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for row in one:
                cur.execute(sql, row)
        per_row = len(one) / (time.perf_counter() - t0)
        many = rows("batch")
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, many)
        batched = len(many) / (time.perf_counter() - t0)
        conn.execute("DROP TABLE bench_twilio_raw_events")
    return per_row, batched
