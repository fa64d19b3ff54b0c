"""`manage.py ingest_email` of generated mail, end to end, beside a bare INSERT.

ours: MESSAGES generated mails in one mbox (threads of five: a customer's first
mail, then replies carrying In-Reply-To/References, every fifth reply from a CC'd
colleague) -> `ingest_email --inbox` -> raw InboundEvent stored -> parsed ->
record_inbound on the timeline (published on the channel layer), messages/s over
the command's wall time (process start included); checked afterwards: every mail
is an inbound entry and every event `processed`. baseline, same database and run:
bare psycopg INSERTs of the same raw mails into a copy of the event table (same
constraints and indexes), one autocommit INSERT per mail (the command itself
stores and records 200 mails per transaction).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from bench.lib import ROOT, Context, Result

PRIORITY = 85
# BENCH_EMAIL_MESSAGES overrides the count (the issue asks for 10,000).
MESSAGES = int(os.environ.get("BENCH_EMAIL_MESSAGES", "10000"))
THREAD = 5
SLUG = "bench-email"
ADDRESS = "support@bench.example.com"


def generate(path: Path, count: int, run_id: str) -> list[bytes]:
    """Write `count` mails to an mbox at `path`; returns the raw mails."""
    start = datetime.now(UTC) - timedelta(days=2)
    raws: list[bytes] = []
    with path.open("wb") as box:  # mbox by hand: mailbox.mbox.add rescans the file
        for i in range(count):
            thread, position = divmod(i, THREAD)
            customer = f"customer{thread}@bench-{run_id}.example.com"
            sender, cc = customer, ""
            if position and position % 4 == 0:
                sender, cc = f"colleague{thread}@bench-{run_id}.example.com", customer
            headers = [
                f"From: Customer {thread} <{sender}>",
                f"To: {ADDRESS}",
                f"Subject: {'Re: ' if position else ''}Order {10_000 + thread}",
                f"Date: {format_datetime(start + timedelta(seconds=i))}",
                f"Message-ID: <{run_id}.{thread}.{position}@bench.example.com>",
                "MIME-Version: 1.0",
                'Content-Type: text/plain; charset="utf-8"',
                "Content-Transfer-Encoding: 8bit",
            ]
            if cc:
                headers.append(f"Cc: {cc}")
            body = f"Hello, my order {10_000 + thread} has not arrived yet, can you check?"
            if position:
                earlier = [f"<{run_id}.{thread}.{p}@bench.example.com>" for p in range(position)]
                headers.append(f"In-Reply-To: {earlier[-1]}")
                headers.append("References: " + "\n ".join(earlier))
                body = (
                    f"Any news on this? ({position})\n\n"
                    f"On Mon, 2 Mar 2026 at 10:00, Support <{ADDRESS}> wrote:\n> We are on it."
                )
            raw = ("\n".join(headers) + "\n\n" + body + "\n").encode()
            raws.append(raw)
            box.write(b"From MAILER-DAEMON Mon Mar  2 10:00:00 2026\n")
            box.write(re.sub(rb"(?m)^(>*From )", rb">\1", raw.replace(b"\r\n", b"\n")))
            box.write(b"\n\n")
    return raws


def _manage(ctx: Context, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=ctx.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def run(ctx: Context) -> list[Result]:
    import psycopg

    run_id = uuid.uuid4().hex[:8]
    slug = f"{SLUG}-{run_id}"
    _manage(
        ctx,
        "shell",
        "-c",
        "from channels_in.actions import create_inbox; "
        f"create_inbox('email', {slug!r}, values={{'address': {ADDRESS!r}}})",
    )
    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
        path = Path(tmp) / "mail.mbox"
        raws = generate(path, MESSAGES, run_id)
        seconds, out = _manage(ctx, "ingest_email", "--inbox", slug, str(path))
    counts = re.search(r"ingested (\d+), duplicates (\d+), failed (\d+)", out)
    if counts is None:
        raise RuntimeError(f"unexpected ingest_email output: {out!r}")
    ingested, _duplicates, failed = (int(x) for x in counts.groups())
    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        inbox_id = _one(conn, "SELECT id FROM channels_in_inbox WHERE slug = %s", slug)
        entries = _one(
            conn,
            "SELECT count(*) FROM conversations_entry WHERE inbox_id = %s AND kind = 'inbound'",
            inbox_id,
        )
        processed = _one(
            conn,
            "SELECT count(*) FROM channels_in_inboundevent WHERE inbox_id = %s "
            "AND status = 'processed'",
            inbox_id,
        )
        conversations = _one(
            conn,
            "SELECT count(DISTINCT conversation_id) FROM conversations_entry "
            "WHERE inbox_id = %s AND kind = 'inbound'",
            inbox_id,
        )
        baseline = _bare_inserts(conn, inbox_id, raws)
    if not (ingested == entries == processed == MESSAGES) or failed:
        raise RuntimeError(
            f"ingest_email lost mail: ingested {ingested}, entries {entries}, "
            f"processed {processed}, failed {failed} of {MESSAGES}"
        )
    return [
        Result(
            "ingest_email",
            f"{MESSAGES} mails parsed and on the timeline, messages/s",
            MESSAGES / seconds,
            "msg/s",
            baseline=baseline,
            baseline_label="bare INSERT of the raw mail, one autocommit INSERT per mail",
            notes=(
                f"{seconds:.1f}s wall incl. process start; {conversations} conversations "
                f"from {MESSAGES // THREAD} threads of {THREAD} (threaded by References)"
            ),
        )
    ]


def _one(conn: object, sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()  # type: ignore[attr-defined]
    if row is None:
        raise RuntimeError(f"no row for {sql}")
    return int(row[0])


def _bare_inserts(conn: object, inbox_id: int, raws: list[bytes]) -> float:
    conn.execute("DROP TABLE IF EXISTS bench_raw_events")  # type: ignore[attr-defined]
    conn.execute(  # type: ignore[attr-defined]
        "CREATE TABLE bench_raw_events (LIKE channels_in_inboundevent INCLUDING ALL)"
    )
    now = datetime.now(UTC)
    sql = (
        "INSERT INTO bench_raw_events (inbox_id, provider_event_id, topic, body, headers, "
        "status, error, attempts, received_at) "
        "VALUES (%s, %s, 'mail', %s, '{}', 'received', '', 0, %s)"
    )
    t0 = time.perf_counter()
    for i, raw in enumerate(raws):
        conn.execute(sql, (inbox_id, f"bare-{i}", raw, now))  # type: ignore[attr-defined]
    rate = len(raws) / (time.perf_counter() - t0)
    conn.execute("DROP TABLE bench_raw_events")  # type: ignore[attr-defined]
    return rate
