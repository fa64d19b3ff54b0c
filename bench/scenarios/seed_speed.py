"""seed_demo bulk speed (entries/s) beside a bare batched INSERT of entry rows.

ours: the wall time run.py measured for `manage.py seed_demo --conversations N/10
--messages N` while loading this scale (process start included), and the
generator's own figure it printed. baseline: bare psycopg executemany of the same
number of entry-shaped rows (up to 200k) in one transaction into a copy of the
entry table with its indexes and constraints.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from bench.lib import Context, Result

PRIORITY = 10
BASELINE_ROWS = 200_000


def run(ctx: Context) -> list[Result]:
    ours = ctx.entries / ctx.seed_seconds if ctx.seed_seconds else float("nan")
    printed = re.search(r"\(([\d,]+) entries/s\)", ctx.extra.get("seed_output", ""))
    baseline = _bare_batched(ctx, min(ctx.entries, BASELINE_ROWS))
    notes = f"{ctx.entries} entries in {ctx.seed_seconds:.1f}s wall"
    if printed:
        notes += f"; generator's own rate {printed.group(1)} entries/s (without process start)"
    return [
        Result(
            "seed_demo",
            "bulk load, entries/s",
            ours,
            "entries/s",
            baseline=baseline,
            baseline_label="bare batched INSERT (executemany, one transaction)",
            notes=notes,
        )
    ]


def _bare_batched(ctx: Context, n: int) -> float:
    import psycopg

    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        ids = conn.execute(
            "SELECT id, contact_id FROM conversations_conversation ORDER BY id LIMIT 1000"
        ).fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_raw_entries")
        conn.execute("CREATE TABLE bench_raw_entries (LIKE conversations_entry INCLUDING ALL)")
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'bench_raw_entries' AND is_nullable = 'NO' "
                "AND column_default IS NULL AND is_generated = 'NEVER' "
                "AND identity_generation IS NULL"
            ).fetchall()
        ]
        now = datetime.now(UTC)
        values = {
            "public_id": None,
            "conversation_id": None,
            "contact_id": None,
            "kind": "inbound",
            "channel": "email",
            "subject": "",
            "body": "Hello, my order 12345 has not arrived yet, can you check the delivery?",
            "html": "",
            "delivery_status": "",
            "delivery_error": "",
            "attempts": 0,
            "is_auto": False,
            "event": "",
            "parameters": "{}",
            "occurred_at": now,
            "created_at": now,
        }
        missing = [c for c in cols if c not in values]
        if missing:
            raise RuntimeError(f"bare baseline does not know columns {missing}")
        names = list(values)
        sql = (
            f"INSERT INTO bench_raw_entries ({', '.join(names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))})"
        )
        rows = []
        for i in range(n):
            conv_id, contact_id = ids[i % len(ids)]
            row = dict(
                values, public_id=uuid.uuid4(), conversation_id=conv_id, contact_id=contact_id
            )
            rows.append(tuple(row[c] for c in names))
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, rows)
        rate = n / (time.perf_counter() - t0)
        conn.execute("DROP TABLE bench_raw_entries")
    return rate
