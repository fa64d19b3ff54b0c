"""KPI benchmark: import history, rebuild facts, refresh one change, read the dashboard.

Figures (issue #9): `manage.py kpi_rebuild` seconds, one incremental refresh after one
change, p50/p95 of GET /api/v1/kpi/summary/ and /kpi/ (warm: the facts unchanged,
the common case between refreshes; plus the cold first request after a refresh),
and `manage.py import_conversations` conversations per second, each beside the bare
SQL baseline: a per-channel per-day GROUP BY over the conversations.

Standalone, on a PostgreSQL database of its own:

    .venv/bin/python -m bench.scenarios.kpi \\
        --database-url postgres://postgres@127.0.0.1:5432/hd_kpi --reuse --runs 3

--reuse measures the database as it is (e.g. a copy of a seed_demo load); without
it the database is dropped, migrated and filled by importing the generated history.
The import is timed into a scratch database (--import-database-url, dropped and
recreated for each of --import-runs runs), so the measured database never grows.
Reads go through Django's test client in-process, one at a time (concurrency 1),
--requests of each after a warm-up. Every figure is the median of --runs runs.

Inside `bench/run.py` (the shared scenario interface), `run(ctx)` measures the
benchmark database at its scale and reads the pages over real HTTP, 1,000 requests
each at 2 in flight (one per core).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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
SUMMARY_PATH = "/api/v1/kpi/summary/?start={start}&end={end}"
DASHBOARD_PATH = "/kpi/?start={start}&end={end}"
HTTP_CONCURRENCY = 2
REQUESTS = 1000


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
import json, os, time
from conversations import actions, signals
from conversations.models import Conversation
from kpi.actions import refresh_kpis
# Time the refresh itself, not the one the signals would run at once (eager Celery).
signals.conversation_changed.disconnect(dispatch_uid="kpi.changed")
signals.entry_created.disconnect(dispatch_uid="kpi.entry")
# Steady state: nothing else changed within the watermark overlap (60 s).
time.sleep(max(0.0, float(os.environ.get("KPI_BENCH_QUIET_FROM", "0")) - time.time()))
refresh_kpis()
samples = []
for c in Conversation.objects.filter(status="open").order_by("-id")[: int(os.environ["RUNS"])]:
    actions.set_status(c, None, "resolved")
    started = time.perf_counter()
    changed = refresh_kpis()
    samples.append([time.perf_counter() - started, changed])
print("INCREMENTAL", json.dumps(samples))
"""

READS = """
import json, os, time
from django.core.cache import cache
from django.test import Client
from helpdesk.models import Agent
from kpi.actions import refresh_kpis
sam, _ = Agent.objects.get_or_create(
    email="bench-supervisor@example.org", defaults={"role": "supervisor"}
)
client = Client()
client.force_login(sam)
result = {}
for name in ("summary", "dashboard"):
    path = os.environ[name.upper() + "_PATH"]
    cache.clear()
    started = time.perf_counter()
    assert client.get(path).status_code == 200
    cold = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(int(os.environ["REQUESTS"])):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        samples.append((time.perf_counter() - started) * 1000)
    result[name] = {"cold_ms": cold, "samples_ms": samples}
print("READS", json.dumps(result))
"""

BASELINE_SQL = (
    "SELECT first_channel, date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*) "
    "FROM conversations_conversation GROUP BY 1, 2"
)


def baseline_ms(dsn: str, runs: int = 7) -> float:
    """Median of the bare per-channel per-day GROUP BY over the conversations."""
    import psycopg

    samples = []
    with psycopg.connect(dsn) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(BASELINE_SQL).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50)


def _recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _say(message: str) -> None:
    print(f"[kpi bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _period() -> dict[str, str]:
    """A 31-day month where both the generated history and seed_demo's data are."""
    return {"start": "2026-10-01", "end": "2026-11-01"}


def import_rates(
    env: dict[str, str], import_url: str, conversations: int, entries: int, runs: int
) -> list[float]:
    """import_conversations conv/s into a fresh scratch database, `runs` times."""
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        generate(path, conversations, entries)
        scratch = {**env, "DATABASE_URL": import_url}
        try:
            for run in range(runs):
                _recreate_database(import_url)
                _manage(scratch, "migrate", "--no-input", "-v", "0")
                elapsed, out = _manage(
                    scratch, "import_conversations", str(path), "--no-progress", "--skip-checks"
                )
                rates.append(conversations / elapsed)
                _say(f"import {run + 1}: {out.strip()}; {rates[-1]:.0f} conv/s, load {_load()}")
        finally:
            _drop_database(import_url)
    return rates


def rebuild_seconds(env: dict[str, str], runs: int) -> list[float]:
    """Wall time of `manage.py kpi_rebuild`, process start included, `runs` times."""
    samples = []
    for run in range(runs):
        elapsed, out = _manage(env, "kpi_rebuild", "--skip-checks")
        samples.append(elapsed)
        _say(f"rebuild run {run + 1}: {elapsed:.2f} s wall; {out.strip()} (load {_load()})")
    return samples


def incremental_seconds(env: dict[str, str], runs: int) -> list[float]:
    """`runs` refreshes, each after resolving one open conversation.

    KPI_BENCH_QUIET_FROM in env: wait until then, so that only the one change is
    within the refresh's watermark overlap (60 s after a fresh import).
    """
    env = {**env, "RUNS": str(runs)}
    _elapsed, out = _manage(env, "shell", "-c", INCREMENTAL)
    line = next(x for x in out.splitlines() if x.startswith("INCREMENTAL"))
    samples = [seconds for seconds, _changed in json.loads(line.split(" ", 1)[1])]
    _say(f"incremental refreshes: {', '.join(f'{x:.3f}' for x in samples)} s")
    return samples


def in_process_reads(env: dict[str, str], requests: int) -> dict[str, Any]:
    period = _period()
    env = {
        **env,
        "REQUESTS": str(requests),
        "SUMMARY_PATH": SUMMARY_PATH.format(**period),
        "DASHBOARD_PATH": DASHBOARD_PATH.format(**period),
    }
    _elapsed, out = _manage(env, "shell", "-c", READS)
    line = next(x for x in out.splitlines() if x.startswith("READS"))
    return dict(json.loads(line.split(" ", 1)[1]))


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(
    env: dict[str, str],
    dsn: str,
    *,
    conversations: int,
    entries: int,
    runs: int,
    import_runs: int,
    import_url: str,
    requests: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"load_before": _load(), "runs": runs}
    if import_runs:
        rates = import_rates(env, import_url, conversations, entries, import_runs)
        figures["import_conv_per_s"] = rates
        figures["import_conv_per_s_median"] = _median(rates)
    figures["rebuild_s"] = rebuild_seconds(env, runs)
    figures["rebuild_s_median"] = _median(figures["rebuild_s"])
    figures["incremental_s"] = incremental_seconds(env, runs)
    figures["incremental_s_median"] = _median(figures["incremental_s"])
    for run in range(runs):
        reads = in_process_reads(env, requests)
        for name, data in reads.items():
            samples = data["samples_ms"]
            figures.setdefault(f"{name}_cold_ms", []).append(data["cold_ms"])
            figures.setdefault(f"{name}_p50_ms", []).append(percentile(samples, 50))
            figures.setdefault(f"{name}_p95_ms", []).append(percentile(samples, 95))
        _say(
            f"reads run {run + 1}: summary p95 {figures['summary_p95_ms'][-1]:.1f} ms, "
            f"dashboard p95 {figures['dashboard_p95_ms'][-1]:.1f} ms (load {_load()})"
        )
    for key in [k for k in figures if k.endswith("_ms") and isinstance(figures[k], list)]:
        figures[f"{key}_median"] = _median(figures[key])
    figures["reads"] = f"in-process, concurrency 1, {requests} requests each, warm cache"
    figures["baseline_ms"] = baseline_ms(dsn)
    figures["load_after"] = _load()
    return figures


def _http_reads(ctx: Context, path: str) -> Any:
    with ctx.client() as client:  # warm the cache
        client.get(path).raise_for_status()
    return http_load(
        ctx.base_url,
        lambda i: ("GET", path, {}),
        total=REQUESTS,
        concurrency=HTTP_CONCURRENCY,
        cookies=ctx.session_cookie,
    )


def run(ctx: Context) -> list[Result]:
    """Inside bench/run.py: the benchmark database at its scale, pages over HTTP.

    The import runs into a scratch database beside it, at the same scale, so the
    database the other scenarios see is left as it was (its facts rebuilt).
    """
    env = dict(ctx.env)
    import_url = ctx.database_url + "_kpi_import"
    rates = import_rates(env, import_url, ctx.conversations, ctx.entries, 1)
    rebuild = rebuild_seconds(env, 1)[0]
    incremental = incremental_seconds(env, 3)
    period = _period()
    summary = _http_reads(ctx, SUMMARY_PATH.format(**period))
    dashboard = _http_reads(ctx, DASHBOARD_PATH.format(**period))
    base = baseline_ms(ctx.dsn)
    label = "bare per-channel per-day GROUP BY over conversations"
    with_load = f"load {_load()}"
    return [
        Result("kpi", "import_conversations", rates[0], "conv/s", notes=with_load),
        Result("kpi", "kpi_rebuild", rebuild * 1000, "ms", base, label, notes=with_load),
        Result(
            "kpi",
            "incremental refresh after one change (median of 3)",
            _median(incremental) * 1000,
            "ms",
            base,
            label,
        ),
        Result("kpi", "summary API p95 (HTTP)", summary.p95, "ms", base, label, summary.describe()),
        Result(
            "kpi", "dashboard p95 (HTTP)", dashboard.p95, "ms", base, label, dashboard.describe()
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/hd_kpibench")
    parser.add_argument("--reuse", action="store_true", help="measure the database as it is")
    parser.add_argument("--import-database-url", default="")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--import-runs", type=int, default=None, help="default: --runs")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args()
    urls = [args.database_url, args.import_database_url or args.database_url + "_import"]
    if not all(u.startswith("postgres://postgres@127.0.0.1") for u in urls):
        raise SystemExit("benchmarks only run against a local PostgreSQL")
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
    }
    # tests.settings: eager Celery and a local-memory cache, so no Redis or worker is
    # needed; the database is the real PostgreSQL.
    env.setdefault("KPI_SURVEYS_ENABLED", "0")
    import_runs = args.runs if args.import_runs is None else args.import_runs
    quiet_from = 0.0
    if not args.reuse:
        _recreate_database(args.database_url)
        _manage(env, "migrate", "--no-input", "-v", "0")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "history.jsonl"
            generate(path, args.conversations, args.entries)
            _manage(env, "import_conversations", str(path), "--no-progress")
        quiet_from = time.time() + 61
    env["KPI_BENCH_QUIET_FROM"] = str(quiet_from)
    figures = measure(
        env,
        args.database_url,
        conversations=args.conversations,
        entries=args.entries,
        runs=args.runs,
        import_runs=import_runs,
        import_url=urls[1],
        requests=args.requests,
    )
    figures["command"] = " ".join(sys.argv)
    figures["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
