"""KPI benchmark: import history, rebuild facts, refresh one change, read the dashboard.

Standalone, on its own PostgreSQL database (created if missing):

    .venv/bin/python -m bench.scenarios.kpi \\
        --database-url postgres://postgres@127.0.0.1:5432/hd_kpibench \\
        --conversations 100000 --entries 1000000

1. generates a JSON Lines file in the IMPORT_FORMAT.md shape (~10 entries per
   conversation: inbound, auto-acks, replies, notes, channel switches, reopen,
   resolutions, CSAT/NPS) and times `manage.py import_conversations` (conv/s);
2. times `manage.py kpi_rebuild`;
3. times one incremental refresh after resolving one conversation;
4. p50/p95 of GET /api/v1/kpi/summary/ and /kpi/ through Django's test client
   in-process (cold first request, then warm), for a 30-day period;
5. the baseline: a bare per-channel per-day GROUP BY over the conversations (psql).

Inside `bench/run.py` (the shared scenario interface), `run(ctx)` does the same on
the benchmark database at its scale and reads the pages over real HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.lib import ROOT, Context, Result, http_load, percentile

PRIORITY = 80
CHANNELS = ["email", "chat", "whatsapp", "sms", "phone", "messenger", "telegram"]
WEIGHTS = [30, 28, 14, 9, 9, 6, 4]
END = datetime(2026, 11, 1, tzinfo=UTC)


def generate(path: Path, conversations: int, entries: int, seed: int = 7) -> int:
    """Write `conversations` lines with about `entries` entries in all; returns entries."""
    rng = random.Random(seed)
    per = max(entries / max(conversations, 1), 3)
    agents = [f"agent{i}@example.org" for i in range(40)]
    teams = ["Support", "Sales", "Billing", "Tech"]
    written = 0
    span = 365 * 86400
    contacts = conversations // 2 + 1
    with path.open("w") as out:
        for i in range(conversations):
            created = END - timedelta(seconds=rng.uniform(0, span))
            channel = rng.choices(CHANNELS, weights=WEIGHTS)[0]
            agent = agents[i % len(agents)]
            at = created
            items: list[dict[str, Any]] = []

            def add(kind: str, when: datetime, _items: list[Any] = items, **kw: Any) -> None:
                _items.append({"kind": kind, "at": when.isoformat(), **kw})

            add("inbound", at, channel=channel, body="Hello, I need help with my order")
            if rng.random() < 0.4:
                add(
                    "outbound",
                    at + timedelta(seconds=5),
                    channel=channel,
                    body="Got it",
                    author="bot@example.org",
                    auto=True,
                )
            target = max(3, int(rng.gauss(per, 2)))
            current = channel
            while len(items) < target - 2:
                at += timedelta(minutes=rng.lognormvariate(3.0, 1.0))
                step = rng.random()
                if step < 0.45:
                    add("outbound", at, channel=current, body="Let me check that", author=agent)
                elif step < 0.55:
                    add("note", at, body="internal", author=agent)
                else:
                    if rng.random() < 0.15:
                        current = rng.choices(CHANNELS, weights=WEIGHTS)[0]
                    add("inbound", at, channel=current, body="Any news?")
            resolved = rng.random() < 0.9
            if resolved:
                at += timedelta(minutes=rng.lognormvariate(4.0, 1.2))
                add("event", at, event="resolved", author=agent)
                roll = rng.random()
                if roll < 0.35:
                    add(
                        "survey",
                        at + timedelta(minutes=30),
                        survey="csat",
                        score=rng.choices([5, 4, 3, 2, 1], weights=[50, 25, 10, 8, 7])[0],
                        channel=channel,
                    )
                elif roll < 0.45:
                    add(
                        "survey", at + timedelta(minutes=30), survey="nps", score=rng.randint(0, 10)
                    )
            written += len(items)
            line = {
                "external_id": f"bench-{i}",
                "contact": {
                    "identities": [
                        {
                            "kind": "email",
                            "value": f"customer{i % contacts}@example.com",
                        }
                    ]
                },
                "status": "resolved" if resolved else rng.choice(["open", "pending"]),
                "team": teams[i % len(teams)],
                "assignee": agent,
                "created_at": created.isoformat(),
                "entries": items,
            }
            out.write(json.dumps(line) + "\n")
    return written


def _manage(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


INCREMENTAL = """
import os, time
from conversations import actions, signals
from conversations.models import Conversation
from kpi.actions import refresh_kpis
# Time the refresh itself, not the one the signals would run at once (eager Celery).
signals.conversation_changed.disconnect(dispatch_uid="kpi.changed")
signals.entry_created.disconnect(dispatch_uid="kpi.entry")
# Steady state: nothing else changed within the watermark overlap (60 s).
time.sleep(max(0.0, 61 - (time.time() - float(os.environ["KPI_BENCH_IMPORTED_AT"]))))
refresh_kpis()
c = Conversation.objects.filter(status="open").order_by("-id").first()
actions.set_status(c, None, "resolved")
started = time.perf_counter()
changed = refresh_kpis()
print("INCREMENTAL", time.perf_counter() - started, changed)
"""

READS = """
import time, statistics
from django.test import Client
from helpdesk.models import Agent
from django.core.cache import cache
sam, _ = Agent.objects.get_or_create(
    email="bench-supervisor@example.org", defaults={"role": "supervisor"}
)
client = Client()
client.force_login(sam)
for name, path in [("summary", "/api/v1/kpi/summary/?start=2026-10-01&end=2026-11-01"),
                   ("dashboard", "/kpi/?start=2026-10-01&end=2026-11-01")]:
    cache.clear()
    started = time.perf_counter()
    assert client.get(path).status_code == 200
    cold = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print("READ", name, cold, statistics.median(samples), p95)
"""

BASELINE_SQL = (
    "SELECT first_channel, date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*) "
    "FROM conversations_conversation GROUP BY 1, 2"
)


def baseline_ms(dsn: str, runs: int = 7) -> float:
    import psycopg

    samples = []
    with psycopg.connect(dsn) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(BASELINE_SQL).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50)


def _ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _say(message: str) -> None:
    print(f"[kpi bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(env: dict[str, str], dsn: str, conversations: int, entries: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    _say(f"generating {conversations} conversations")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        started = time.monotonic()
        figures["entries"] = generate(path, conversations, entries)
        figures["generate_s"] = time.monotonic() - started
        _say(f"importing {figures['entries']} entries")
        elapsed, out = _manage(env, "import_conversations", str(path), "--no-progress")
        figures["import_s"] = elapsed
        figures["import_output"] = out.strip()
        figures["import_rate"] = conversations / elapsed
        env = {**env, "KPI_BENCH_IMPORTED_AT": str(time.time())}
    _say(f"imported at {figures['import_rate']:.0f} conv/s; rebuilding")
    elapsed, out = _manage(env, "kpi_rebuild")
    figures["rebuild_wall_s"] = elapsed
    figures["rebuild_output"] = out.strip()
    _say(f"{figures['rebuild_output']}; incremental refresh")
    _elapsed, out = _manage(env, "shell", "-c", INCREMENTAL)
    for line in out.splitlines():
        if line.startswith("INCREMENTAL"):
            figures["incremental_s"] = float(line.split()[1])
    _say("reads")
    _elapsed, out = _manage(env, "shell", "-c", READS)
    for line in out.splitlines():
        if line.startswith("READ"):
            _tag, name, cold, p50, p95 = line.split()
            figures[f"{name}_cold_ms"] = float(cold)
            figures[f"{name}_p50_ms"] = float(p50)
            figures[f"{name}_p95_ms"] = float(p95)
    figures["baseline_ms"] = baseline_ms(dsn)
    return figures


def run(ctx: Context) -> list[Result]:
    """Inside bench/run.py: the same figures on the benchmark database at its scale."""
    figures = measure(dict(ctx.env), ctx.dsn, ctx.conversations, ctx.entries)
    summary = http_load(
        ctx.base_url,
        lambda i: ("GET", "/api/v1/kpi/summary/?start=2026-10-01&end=2026-11-01", {}),
        total=300,
        concurrency=4,
        cookies=ctx.session_cookie,
    )
    base = figures["baseline_ms"]
    label = "bare per-channel per-day GROUP BY over conversations"
    return [
        Result("kpi", "import_conversations", figures["import_rate"], "conv/s"),
        Result(
            "kpi",
            "kpi_rebuild",
            figures["rebuild_wall_s"] * 1000,
            "ms",
            base,
            label,
            notes=figures["rebuild_output"],
        ),
        Result(
            "kpi",
            "incremental refresh after one change",
            figures["incremental_s"] * 1000,
            "ms",
            base,
            label,
        ),
        Result(
            "kpi",
            "summary API p95 (HTTP)",
            summary.p95,
            "ms",
            base,
            label,
            notes=summary.describe(),
        ),
        Result("kpi", "dashboard p95 (in-process)", figures["dashboard_p95_ms"], "ms", base, label),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/hd_kpibench")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres://postgres@127.0.0.1"):
        raise SystemExit("benchmarks only run against a local PostgreSQL")
    _ensure_database(args.database_url)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    # tests.settings: eager Celery and a local-memory cache, so no Redis or worker is
    # needed; the database is the real PostgreSQL.
    env.setdefault("KPI_SURVEYS_ENABLED", "0")
    _manage(env, "migrate", "--no-input")
    figures = measure(env, args.database_url, args.conversations, args.entries)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
