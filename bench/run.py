"""`make bench`: fresh PostgreSQL database, seed_demo data, the real stack, every scenario.

    SCALE=small|medium|full|all .venv/bin/python bench/run.py [--only NAME ...] [--keep-db]
        [--reuse-db] [--no-write]

Environment:
    SCALE         small (10k entries, default), medium (100k), full (1M), or all (the
                  page scenarios at every scale, the others at small)
    BENCH_PG      server URL without a database, default postgres://postgres@127.0.0.1:5432
    BENCH_DB      database name, default hd_bench (dropped and recreated, unless
                  --reuse-db finds it already seeded at this scale)
    REDIS_URL     use this Redis; unset = an embedded redis-server on a free port

Everything it starts (uvicorn, a Celery worker, the embedded Redis) listens on
127.0.0.1 on free ports and is stopped at the end, on failure and on Ctrl-C.
Results replace the matching rows of the table in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import SCALES, Context, Result, RssSampler, machine  # noqa: E402

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
RESULTS_JSON = ROOT / "bench" / "results.json"
START = "<!-- results:start -->"
END = "<!-- results:end -->"
VENV_BIN = Path(sys.executable).parent
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"  # noqa: S105 - a throwaway database
API_SLUG = "bench-api"
API_SECRET = "bench-api-secret"  # noqa: S105 - a throwaway database


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- processes -------------------------------------------------------------------------


class Stack:
    """The processes this run started; stop() ends exactly those (process groups)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.redis: Any = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        logfile = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with proc
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() gets its children
        )
        self.procs[name] = proc
        return proc

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_process(name)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_redis(stack: Stack) -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    from helpdesk.embedded_redis import EmbeddedRedis

    stack.redis = EmbeddedRedis(free_port(), stack.workdir / "redis")
    stack.redis.start()
    log(f"embedded redis on {stack.redis.url}")
    url: str = stack.redis.url
    return url


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def wait_worker(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    from helpdesk.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"celery worker did not answer within {timeout}s")


# --- database --------------------------------------------------------------------------


def recreate_database(server: str, name: str) -> None:
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"BENCH_DB must be a plain lower-case identifier, not {name!r}")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def seeded_entries(server: str, name: str) -> int | None:
    """How many timeline entries database `name` holds (snapped to a seed_demo scale
    when within 1% of it), or None if it does not exist or has no schema yet."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is None:
        return None
    with psycopg.connect(f"{server}/{name}", autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('conversations_entry') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return None
        row = conn.execute("SELECT count(*) FROM conversations_entry").fetchone()
    count = int(row[0]) if row else 0
    # The admin's fixtures and earlier runs' writes add a few rows: match a scale
    # within 1%.
    for scale_entries in SCALES.values():
        if abs(count - scale_entries) <= scale_entries // 100:
            return scale_entries
    return count


def run_lock(server: str, db: str) -> Any:
    """Hold a PostgreSQL advisory lock for the whole run: two `make bench` runs on
    the same server and database would drop each other's data and share 2 cores,
    so the second one waits for the first."""
    import psycopg

    conn = psycopg.connect(f"{server}/postgres", autocommit=True)
    key = f"helpdesk-bench:{db}"
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
    if not (row and row[0]):
        log(f"another benchmark run is using {db}; waiting for it to finish")
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
    return conn  # closing the connection (leaving the with block) releases the lock


def manage(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run a manage.py command; return its wall time in seconds and its stdout."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.perf_counter() - t0, done.stdout


def close_connection_pools() -> None:
    """Close this process's connections and their pools: a pooled connection to a
    database dropped and recreated since (SCALE=all) is dead, and close_all() alone
    would hand it back to the next query."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()


def prepare_fixtures() -> None:
    """The admin agent and the api inbox the scenarios use, through the real code."""
    from django.db import connections

    from channels_in import actions as channel_actions
    from channels_in.models import Inbox
    from helpdesk.models import Agent

    close_connection_pools()
    if not Agent.objects.filter(email=ADMIN_EMAIL).exists():
        Agent.objects.create_superuser(ADMIN_EMAIL, ADMIN_PASSWORD, name="Bench Admin")
    if not Inbox.objects.filter(slug=API_SLUG).exists():
        channel_actions.create_inbox(
            "api", API_SLUG, name="Bench API", values={"secret": API_SECRET}
        )
    connections.close_all()


def login(base_url: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if match is None:
            raise RuntimeError(f"no CSRF token on /login/ (HTTP {page.status_code})")
        response = client.post(
            "/login/",
            data={
                "username": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "csrfmiddlewaretoken": match.group(1),
            },
        )
        if "sessionid" not in client.cookies:
            raise RuntimeError(f"login failed (HTTP {response.status_code})")
        return {"sessionid": client.cookies["sessionid"], "csrftoken": client.cookies["csrftoken"]}


# --- scenarios -------------------------------------------------------------------------


def discover(only: list[str]) -> list[ModuleType]:
    import bench.scenarios as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        module = importlib.import_module(f"bench.scenarios.{info.name}")
        if callable(getattr(module, "run", None)):
            modules.append(module)
    modules.sort(key=lambda m: (getattr(m, "PRIORITY", 50), m.__name__))
    return modules


def scenario_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def run_scale(
    scale: str,
    scenarios: list[ModuleType],
    server: str,
    db: str,
    workdir: Path,
    keep_db: bool,
    redis_url: str,
    results: list[Result],
    reuse_db: bool = False,
) -> list[Result]:
    """Load one scale, start the stack, run the scenarios; rows go into `results`."""
    entries = SCALES[scale]
    conversations = entries // 10
    stack = Stack(workdir)
    try:
        database_url = f"{server}/{db}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key-" + "x" * 40),
            "VAR_DIR": str(workdir / "var"),
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONPATH": str(ROOT),
            # Under ASGI every request runs in a thread of its own, so persistent
            # connections pile up (one per finished thread) until PostgreSQL refuses
            # clients; as Django advises for ASGI, connect per request.
            "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "0"),
        }
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
        os.environ.update({"VAR_DIR": env["VAR_DIR"], "LOG_LEVEL": "WARNING"})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
        import django

        django.setup()
        from django.db import connections

        connections.close_all()
        seeded = reuse_db and seeded_entries(server, db) == entries
        if seeded:
            # A 1M-entry load takes minutes: reuse it, only applying new migrations.
            log(f"scale {scale}: reusing database {db} ({entries} entries already seeded)")
            manage(env, "migrate", "--no-input", "-v", "0")
            seed_seconds, seed_output = 0.0, "reused"
        else:
            log(f"scale {scale}: recreating database {db}")
            recreate_database(server, db)
            manage(env, "migrate", "--no-input", "-v", "0")
            log(f"seed_demo --conversations {conversations} --messages {entries}")
            seed_seconds, seed_output = manage(
                env, "seed_demo", "--conversations", str(conversations), "--messages", str(entries)
            )
            log(f"seeded {entries} entries in {seed_seconds:.1f}s: {seed_output.strip()}")
            with psycopg_conn(database_url) as conn:
                conn.execute("VACUUM ANALYZE")
        prepare_fixtures()

        port = free_port()
        web = stack.spawn(
            "web",
            [
                str(VENV_BIN / "uvicorn"),
                "helpdesk.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                # Same default as `manage.py up`: one process per core (WEB_CONCURRENCY).
                str(int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            # The same settings plus one trivial view, the bare Django page the page
            # scenarios measure beside ours (bench/settings.py).
            {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        )
        worker = stack.spawn(
            "worker",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "helpdesk",
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench-{port}@%h",
            ],
            env,
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_http(base_url + "/healthz", web)
        wait_worker(worker)
        from helpdesk.celery import app

        app.send_task("helpdesk.heartbeat")  # /healthz wants a worker heartbeat; no beat here
        log(f"stack up: web {base_url} (pid {web.pid}), worker pid {worker.pid}")
        ctx = Context(
            base_url=base_url,
            dsn=database_url,
            database_url=database_url,
            redis_url=redis_url,
            scale=scale,
            entries=entries,
            conversations=conversations,
            session_cookie=login(base_url),
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            api_inbox_slug=API_SLUG,
            api_secret=API_SECRET,
            env=env,
            pids={"web": web.pid, "worker": worker.pid},
            seed_seconds=seed_seconds,
            extra={"seed_output": seed_output},
        )
        sampler = RssSampler(ctx.pids).start()
        time.sleep(1)
        idle = dict(sampler.peak)
        for module in scenarios:
            name = scenario_name(module)
            log(f"scenario {name} ({scale})")
            t0 = time.perf_counter()
            try:
                rows = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken scenario must not end the run
                log(f"scenario {name} FAILED: {type(exc).__name__}: {exc}")
                rows = [Result(name, "FAILED", float("nan"), "", notes=f"{type(exc).__name__}")]
            for row in rows:
                row.scale = row.scale or scale
                log(
                    f"  {row.figure}: {row.value:.4g} {row.unit} (baseline {row.baseline})"
                    + (f" [{row.notes}]" if row.notes else "")
                )
            results += rows
            log(f"scenario {name} took {time.perf_counter() - t0:.1f}s")
        peak = sampler.stop()
        for proc_name in ("web", "worker"):
            results.append(
                Result(
                    "memory",
                    f"peak RSS, {proc_name} process tree",
                    peak[proc_name] / 2**20,
                    "MiB",
                    baseline=idle[proc_name] / 2**20 or None,
                    baseline_label="RSS right after start",
                    scale=scale,
                )
            )
    except BaseException:
        for name in ("web", "worker"):
            tail = stack.tail(name)
            if tail:
                log(f"last lines of {name}.log:\n{tail}")
        raise
    finally:
        stack.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if keep_db:
            log(f"database {db} kept for inspection; drop it with: dropdb {db}")
        else:
            with contextlib.suppress(Exception), psycopg_conn(f"{server}/postgres") as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
    return results


@contextlib.contextmanager
def psycopg_conn(url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


# --- BENCHMARKS.md -----------------------------------------------------------------------


def commit_id() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def fmt(value: float | None) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


SCALE_ORDER = {"small": 0, "medium": 1, "full": 2}


def write_table(new: list[Result], date: str, commit: str, host: str) -> None:
    """Replace rows measured now (same scenario, figure, scale); keep the others."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    if RESULTS_JSON.exists():
        for row in json.loads(RESULTS_JSON.read_text()):
            rows[(row["scenario"], row["figure"], row["scale"])] = row
    for r in new:
        rows[(r.scenario, r.figure, r.scale)] = {
            "scenario": r.scenario,
            "figure": r.figure,
            "value": r.value,
            "unit": r.unit,
            "baseline": r.baseline,
            "baseline_label": r.baseline_label,
            "ratio": r.ratio,
            "scale": r.scale,
            "notes": r.notes,
            "date": date,
            "commit": commit,
            "machine": host,
        }
    ordered = sorted(
        rows.values(), key=lambda r: (r["scenario"], r["figure"], SCALE_ORDER.get(r["scale"], 9))
    )
    RESULTS_JSON.write_text(json.dumps(ordered, indent=1, allow_nan=True) + "\n")
    lines = [
        START,
        "| scenario | figure | ours | baseline | ratio | scale | date | commit | notes |",
        "| --- | --- | ---: | --- | ---: | --- | --- | --- | --- |",
    ]
    for r in ordered:
        baseline = f"{fmt(r['baseline'])} {r['unit']} ({r['baseline_label']})"
        if r["baseline"] is None:
            baseline = "–"
        ratio = fmt(r["ratio"])
        notes = str(r["notes"]).replace("|", "/")
        lines.append(
            f"| {r['scenario']} | {r['figure']} | {fmt(r['value'])} {r['unit']} | {baseline} "
            f"| {ratio} | {r['scale']} | {r['date']} | {r['commit']} | {notes} |"
        )
    machines = sorted({r["machine"] for r in ordered})
    lines.append("")
    lines.append("Machine: " + "; ".join(machines))
    lines.append(END)
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else f"{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n## Results\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    BENCHMARKS_MD.write_text(head + "\n".join(lines) + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--only", nargs="*", default=[], help="scenario module names")
    parser.add_argument("--keep-db", action="store_true", help="leave the database afterwards")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep BENCH_DB if it already holds this scale's data (migrate only, no seed)",
    )
    args = parser.parse_args(argv)

    scale = os.environ.get("SCALE", "small")
    if scale not in (*SCALES, "all"):
        print(f"SCALE must be small, medium, full or all, not {scale!r}", file=sys.stderr)
        return 2
    server = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    db = os.environ.get("BENCH_DB", "hd_bench")
    scenarios = discover(args.only)
    if not scenarios:
        print("no scenarios found", file=sys.stderr)
        return 2
    log(f"scenarios: {', '.join(scenario_name(m) for m in scenarios)}")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    commit, host = commit_id(), machine()
    results: list[Result] = []
    plan = list(SCALES) if scale == "all" else [scale]
    try:
        lock = run_lock(server, db)
    except KeyboardInterrupt:
        return 130
    try:
        with lock, tempfile.TemporaryDirectory(prefix="hd-bench-") as tmp:
            redis_stack = Stack(Path(tmp))
            try:
                redis_url = start_redis(redis_stack)
                for i, each in enumerate(plan):
                    chosen = (
                        scenarios if i == 0 else [m for m in scenarios if getattr(m, "GROWS", 0)]
                    )
                    keep = args.keep_db and i == len(plan) - 1
                    run_scale(
                        each,
                        chosen,
                        server,
                        db,
                        Path(tmp),
                        keep or args.reuse_db,
                        redis_url,
                        results,
                        reuse_db=args.reuse_db,
                    )
            finally:
                redis_stack.stop()
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        return 130
    finally:
        # What was measured before an interruption or a failure is kept too.
        if results and not args.no_write:
            write_table(results, date, commit, host)
            log(f"wrote {len(results)} rows to {BENCHMARKS_MD.name}")
    failed = [r for r in results if r.figure == "FAILED"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
