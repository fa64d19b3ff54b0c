"""Shared helpers for benchmark scenarios (stable interface: see BENCHMARKS.md).

A scenario is a module bench/scenarios/<name>.py exposing

    def run(ctx: Context) -> list[Result]: ...

and optionally `GROWS = True` when it is a page scenario that `SCALE=all` repeats
at every scale ("cost as data grows"); other scenarios run once per `make bench`.
`PRIORITY` (int, default 50) orders them; lower runs first.

Everything here targets 127.0.0.1 only and is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

# Timeline entries per scale; conversations are a tenth of that.
SCALES: dict[str, int] = {"small": 10_000, "medium": 100_000, "full": 1_000_000}


@dataclass
class Result:
    """One row of the BENCHMARKS.md table.

    `value` is ours, `baseline` the bare-metal figure measured in the same run on
    the same machine; ratio = value / baseline (for latencies > 1 means slower than
    the bare query, for rates < 1 means fewer per second than bare INSERTs).
    """

    scenario: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    notes: str = ""
    scale: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline  # type: ignore[operator]


@dataclass
class Context:
    """What a scenario gets. Processes are already running; the data is loaded."""

    base_url: str  # e.g. http://127.0.0.1:43121 (uvicorn, the real ASGI app)
    dsn: str  # libpq conninfo / URL of the benchmark database, for psycopg
    database_url: str  # the same, as DATABASE_URL for Django processes
    redis_url: str
    scale: str  # small | medium | full
    entries: int  # timeline entries loaded by seed_demo at this scale
    conversations: int
    session_cookie: dict[str, str]  # {"sessionid": ..., "csrftoken": ...}: an admin agent
    admin_email: str
    admin_password: str
    api_inbox_slug: str  # an `api` inbox (no team) and its HMAC secret
    api_secret: str
    env: dict[str, str]  # environment for subprocesses (manage.py ...) on this database
    pids: dict[str, int] = field(default_factory=dict)  # "web", "worker" -> pid
    # seed_demo's own timing at this scale, measured by run.py while loading.
    seed_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A sync client on the stack, logged in as the admin agent."""
        return httpx.Client(
            base_url=self.base_url, cookies=self.session_cookie, timeout=30, **kwargs
        )

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


# --- statistics -----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Latency:
    """Latencies in milliseconds of `count` operations (errors excluded)."""

    samples_ms: list[float]
    errors: int = 0
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    def describe(self) -> str:
        status = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"n={self.count} errors={self.errors} p50={self.p50:.1f}ms p95={self.p95:.1f}ms "
            f"p99={self.p99:.1f}ms {self.rate:.0f}/s [{status}]"
        )


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --- bounded concurrent HTTP client ----------------------------------------------------

RequestFactory = Callable[[int], tuple[str, str, dict[str, Any]]]


def http_load(
    base_url: str,
    make_request: RequestFactory,
    *,
    total: int = 1000,
    concurrency: int = 16,
    max_seconds: float = 120.0,
    cookies: dict[str, str] | None = None,
    ok_statuses: tuple[int, ...] = (200,),
    timeout: float = 30.0,
) -> Latency:
    """Send `total` requests with at most `concurrency` in flight; stop at max_seconds.

    make_request(i) -> (method, path, httpx request kwargs). Only 127.0.0.1 targets
    are accepted. A status outside ok_statuses counts as an error, not a sample.
    """
    if not base_url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError(f"benchmarks only target 127.0.0.1, not {base_url}")
    return asyncio.run(
        _http_load(
            base_url, make_request, total, concurrency, max_seconds, cookies, ok_statuses, timeout
        )
    )


async def _http_load(
    base_url: str,
    make_request: RequestFactory,
    total: int,
    concurrency: int,
    max_seconds: float,
    cookies: dict[str, str] | None,
    ok_statuses: tuple[int, ...],
    timeout: float,
) -> Latency:
    result = Latency(samples_ms=[])
    counter = iter(range(total))
    deadline = time.monotonic() + max_seconds
    # A new connection per request. With keep-alive, uvicorn's processes each accepted
    # a fixed share of the few connections for the whole run: when both of two landed
    # in one process, every request shared its GIL and the run measured twice the
    # service time (the same page gave p50 24 or 36 ms, run to run). A new connection
    # goes to whichever process is free to accept it, as many clients' would.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base_url, cookies=cookies, timeout=timeout, limits=limits
    ) as client:

        async def worker() -> None:
            for i in counter:
                if time.monotonic() > deadline:
                    return
                method, path, kwargs = make_request(i)
                t0 = time.perf_counter()
                try:
                    response = await client.request(method, path, **kwargs)
                except httpx.HTTPError:
                    result.errors += 1
                    continue
                ms = (time.perf_counter() - t0) * 1000
                result.statuses[response.status_code] = (
                    result.statuses.get(response.status_code, 0) + 1
                )
                if response.status_code in ok_statuses:
                    result.samples_ms.append(ms)
                else:
                    result.errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - start
    return result


# --- bare SQL ---------------------------------------------------------------------------


def sql_latency(
    dsn: str,
    statements: Sequence[tuple[str, Sequence[Any] | None]],
    *,
    repeat: int = 1000,
    max_seconds: float = 60.0,
) -> Latency:
    """Time running all `statements` in order, `repeat` times, on one connection.

    The baseline for a page: the bare SQL of its main query (and its count, if the
    page runs one), without Django, templates or HTTP.
    """
    import psycopg

    result = Latency(samples_ms=[])
    deadline = time.monotonic() + max_seconds
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        for _ in range(repeat):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            for sql, params in statements:
                cur.execute(sql, params)  # type: ignore[arg-type]
                cur.fetchall()
            result.samples_ms.append((time.perf_counter() - t0) * 1000)
        result.elapsed_s = time.perf_counter() - start
    return result


# Requests in flight for page latencies: the machines have 2 cores and uvicorn runs
# WEB_CONCURRENCY processes (one per core), so 2 in flight keep every process busy
# without measuring time spent queueing behind other requests.
PAGE_CONCURRENCY = 2
# Requests sent first and not counted: template compilation, the pool's first
# connections, per-process caches.
WARMUP_REQUESTS = 20
BARE_PAGE_PATH = "/bench/bare/"  # bench/urls.py: a fixed HttpResponse, no query


def bare_page_latency(
    ctx: Context, *, requests: int = 1000, concurrency: int = PAGE_CONCURRENCY
) -> Latency:
    """The bare Django page (bench/urls.py) through the same uvicorn processes and
    middleware: what any page costs before its own queries and templates."""
    http_load(
        ctx.base_url,
        lambda i: ("GET", BARE_PAGE_PATH, {}),
        total=WARMUP_REQUESTS,
        cookies=ctx.session_cookie,
    )
    return http_load(
        ctx.base_url,
        lambda i: ("GET", BARE_PAGE_PATH, {}),
        total=requests,
        concurrency=concurrency,
        max_seconds=180,
        cookies=ctx.session_cookie,
    )


def page_latency(
    ctx: Context,
    scenario: str,
    label: str,
    paths: Sequence[str],
    baseline_sql: list[tuple[str, Any]],
    *,
    requests: int = 1000,
    concurrency: int = PAGE_CONCURRENCY,
) -> list[Result]:
    """p50/p95/p99 of logged-in GETs over `paths`, beside the bare SQL of the page's
    main query and the bare Django page, both measured in the same run; one Result
    per quantile (baseline: the bare SQL; the bare Django page is in the notes)."""
    http_load(
        ctx.base_url,
        lambda i: ("GET", paths[i % len(paths)], {}),
        total=WARMUP_REQUESTS,
        concurrency=concurrency,
        cookies=ctx.session_cookie,
    )
    lat = http_load(
        ctx.base_url,
        lambda i: ("GET", paths[i % len(paths)], {}),
        total=requests,
        concurrency=concurrency,
        max_seconds=180,
        cookies=ctx.session_cookie,
    )
    bare = bare_page_latency(ctx, requests=requests, concurrency=concurrency)
    base = sql_latency(ctx.dsn, baseline_sql, repeat=requests)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = f"{lat.describe()}; concurrency {concurrency}; load {load:.2f}"
    rows = [
        Result(
            scenario,
            f"{label} {q}",
            getattr(lat, q),
            "ms",
            baseline=getattr(base, q),
            baseline_label=f"bare SQL {q}",
            notes=(f"bare Django page {q} {getattr(bare, q):.1f} ms")
            + ("; " + notes if q == "p95" else ""),
        )
        for q in ("p50", "p95", "p99")
    ]
    if lat.errors or bare.errors:
        errors = f"{lat.errors} errors ({bare.errors} on the bare page)! "
        rows[0].notes = errors + rows[0].notes + "; " + notes
    return rows


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, return value) of one call."""
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


# --- process memory --------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        return found
    for child in list(found):
        found += _children(child)
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (e.g. Celery's pool)."""
    return sum(rss_bytes(p) for p in [pid, *_children(pid)])


class RssSampler:
    """Samples the RSS of named process trees in a thread; keeps the peak of each."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak[name] = max(self.peak[name], tree_rss_bytes(pid))

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        return self.peak


def machine() -> str:
    """A one-line description of this machine for the results table."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // (1024 * 1024)
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {mem} GiB RAM"
