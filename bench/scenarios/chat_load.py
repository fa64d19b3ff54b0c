"""Live chat under load: visitor sockets -> record_inbound -> agent sockets.

Ours: CHAT_VISITORS (1,000) widget sockets and CHAT_AGENTS (20) agent sockets on
the real app served as in production: uvicorn with WEB_CONCURRENCY worker processes
(default one per core), PostgreSQL and the Redis pub/sub layer. Every visitor has
its own conversation, watched by one agent (subscribed, so it gets entry.created;
all agents also get every inbox summary). CHAT_RATE (200) messages/s for
CHAT_SECONDS (60) s, spread over the visitors. Measured: visitor send -> agent
receives the stored entry (p50/p99), the visitor's ack, messages lost or doubled
(agent side and in the database), the RSS of the ASGI worker processes, and their
CPU per message stored (this machine is shared: the CPU a message costs is steadier
than its latency), logged with this client's own CPU and the load average.

Baseline, same run, same socket counts, rate and worker count: a bare Channels
relay over the same Redis (bench/scenarios/_chat_echo.py): socket -> consumer ->
group_send -> consumer -> socket, no database.

Idle: CHAT_IDLE (10,000) visitor sockets that said hello, held open on ONE fresh
uvicorn process; its RSS and open files against the same process right after
start. The idle clients run in processes of their own (IDLE_PER_CLIENT sockets
each), so their file descriptors and memory are not the server's.

CHAT_PHASES (echo,chat,idle) picks the phases to run. Everything is on 127.0.0.1,
bounded in count and time; the servers and clients it starts are stopped at the
end. The widget's rate limits stay on but are set out of reach (all sockets come
from one IP), so their cost is measured; per-message deflate is off (as production
should: a zlib context per socket costs more than the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.lib import ROOT, Context, Latency, Result, rss_bytes

PRIORITY = 90


def _env_int(names: tuple[str, ...], default: int) -> int:
    """The first of `names` set in the environment (short and long spellings), else
    `default`. The defaults are issue 5's load line at every SCALE: the load shape
    does not depend on how much history the database holds."""
    for name in names:
        if os.environ.get(name):
            return int(os.environ[name])
    return default


VISITORS = _env_int(("CHAT_VISITORS", "CHAT_LOAD_VISITORS"), 1000)
AGENTS = _env_int(("CHAT_AGENTS", "CHAT_LOAD_AGENTS"), 20)
RATE = _env_int(("CHAT_RATE", "CHAT_LOAD_RATE"), 200)
SECONDS = _env_int(("CHAT_SECONDS", "CHAT_LOAD_SECONDS"), 60)
IDLE = _env_int(("CHAT_IDLE", "CHAT_IDLE_SOCKETS"), 10000)
PHASES = frozenset(
    p.strip() for p in os.environ.get("CHAT_PHASES", "echo,chat,idle").split(",") if p.strip()
)
# The chat and echo servers run as `manage.py up` does: one process per core.
WORKERS = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
# Sockets per idle client process: each holds one file descriptor per socket, well
# under the usual hard limit of open files.
IDLE_PER_CLIENT = 5000
# Out of reach but still checked: every message pays for its rate-limit counters.
UNREACHABLE_RATE = "1000000000"
SLUG = "bench-chat"
CONNECT_CONCURRENCY = 100
DRAIN_SECONDS = 20
VENV_BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[chat_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving an ASGI app on a free 127.0.0.1 port: one process, or a
    supervisor and `workers` worker processes (uvicorn --workers)."""

    def __init__(self, app: str, env: dict[str, str], name: str, workers: int = 1) -> None:
        self.port = _free_port()
        self.workers = workers
        self.logfile = Path(tempfile.gettempdir()) / f"chat_load-{name}-{self.port}.log"
        argv = [
            str(VENV_BIN / "uvicorn"),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # With workers, info: each logs "Application startup complete.", awaited
            # below (one process binds its port only once the app is loaded).
            "--log-level",
            "info" if workers > 1 else "warning",
            "--no-access-log",
            "--ws-per-message-deflate",
            "false",
            "--backlog",
            "4096",
            # A starved client must not be cut off mid-run by missed keepalive pongs.
            "--ws-ping-timeout",
            "300",
        ]
        if workers > 1:
            argv += ["--workers", str(workers)]
        self.logfile.write_bytes(b"")
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Every worker must be serving before the first socket connects: a worker
        # still starting would leave all the sockets to the others.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{app} exited: {self.logfile.read_text()[-2000:]}")
            log_text = self.logfile.read_text(errors="replace") if workers > 1 else ""
            if log_text.count("Application startup complete") >= (workers if workers > 1 else 0):
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=1),
                ):
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{app} did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The processes that serve sockets (the supervisor only watches them)."""
        if self.workers <= 1:
            return [self.proc.pid]
        pids = []
        for child in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    pids.append(child)
        return pids

    def rss_mib(self) -> list[float]:
        """RSS of each worker process, in MiB."""
        return [rss_bytes(pid) / 2**20 for pid in self.worker_pids()]

    def open_files(self) -> int:
        """File descriptors open in the serving processes (sockets, Redis, PostgreSQL)."""
        total = 0
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                total += len(os.listdir(f"/proc/{pid}/fd"))
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far, in seconds (gone ones: 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Fields 14 and 15 (utime, stime); the command name in field 2 may hold
            # spaces, so count from the closing parenthesis.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _setup() -> tuple[int, list[str]]:
    """A chat inbox of a team of AGENTS agents, each with a login session."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from channels_in import actions
    from channels_in.models import Inbox
    from helpdesk.models import Agent, Team

    team, _ = Team.objects.get_or_create(name="Bench chat")
    inbox = Inbox.objects.filter(slug=SLUG).first() or actions.create_inbox(
        "chat", SLUG, name="Bench chat", team_id=team.pk, values={"allowed_origins": "*"}
    )
    sessions = []
    for i in range(AGENTS):
        agent = Agent.objects.filter(email=f"bench-chat-{i}@example.com").first()
        if agent is None:
            agent = Agent.objects.create_user(f"bench-chat-{i}@example.com", None, name=f"A{i}")
        team.members.add(agent)
        session = SessionStore()
        session[SESSION_KEY] = str(agent.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
        session.create()
        sessions.append(str(session.session_key))
    return inbox.pk, sessions


# --- the client ------------------------------------------------------------------------


class Traffic:
    """Visitors and agents on one server; `chat` = our app, else the bare relay."""

    def __init__(
        self,
        base: str,
        chat: bool,
        sessions: list[str],
        server_pids: list[int] | None = None,
        stored: Callable[[], int] | None = None,
    ) -> None:
        self.base = base
        self.ws_base = "ws" + base[4:]
        self.chat = chat
        self.sessions = sessions
        self.visitors: list[Any] = []
        self.rooms: list[Any] = []
        self.agents: list[Any] = []
        self.sent: dict[str, float] = {}
        self.seen: set[str] = set()
        self.latency = Latency(samples_ms=[])
        self.acks = Latency(samples_ms=[])
        self.duplicates = 0
        self.errors = 0
        self.connect_failures = 0
        self.tasks: list[asyncio.Task[Any]] = []
        # CPU over the load and its drain, to tell where a shortfall comes from: the
        # serving processes' (per message stored meanwhile) and this client's own.
        self.server_pids = server_pids or []
        self.stored = stored
        self.server_cpu_s = 0.0
        self.client_cpu_s = 0.0
        self.stored_during = 0
        self.send_elapsed_s = 0.0

    async def _connect(self, path: str, headers: dict[str, str] | None = None) -> Any:
        from websockets.asyncio.client import connect

        return await connect(
            self.ws_base + path,
            origin=self.base,  # type: ignore[arg-type]
            additional_headers=headers or {},
            compression=None,
            ping_interval=None,
            open_timeout=60,
            max_queue=None,
        )

    async def _visitor(self, i: int, sem: asyncio.Semaphore) -> None:
        async with sem:
            if self.chat:
                ws = await self._connect(f"/ws/widget/{SLUG}/")
                await ws.send(json.dumps({"type": "hello"}))
                ready = json.loads(await ws.recv())
                if ready.get("type") != "ready":
                    raise RuntimeError(f"visitor {i} refused: {ready}")
                await ws.send(
                    json.dumps({"type": "message", "client_id": str(uuid.uuid4()), "body": "hi"})
                )
                ack = json.loads(await ws.recv())
                room = ack["entry"]["conversation"]
            else:
                ws = await self._connect("/ws/echo/")
                room = i
            self.visitors.append(ws)
            self.rooms.append(room)

    async def _agent(self, n: int, rooms: list[Any]) -> None:
        headers = {"Cookie": f"sessionid={self.sessions[n]}"} if self.chat else None
        ws = await self._connect("/ws/agent/" if self.chat else "/ws/echo/", headers)
        if self.chat:
            json.loads(await ws.recv())  # hello
        for room in rooms:
            frame = {"type": "subscribe", "conversation": room} if self.chat else {"join": room}
            await ws.send(json.dumps(frame))
        pending = len(rooms)
        while pending:
            raw = await ws.recv()
            if '"subscribed"' in raw or '"joined"' in raw:
                pending -= 1
        self.agents.append(ws)
        self.tasks.append(asyncio.create_task(self._read_agent(ws)))

    async def _read_agent(self, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                if '"entry.created"' not in raw or "load:" not in raw:
                    continue  # inbox summaries and the like
                frame = json.loads(raw)
                body = frame["entry"]["body"] if self.chat else frame["body"]
                if body in self.seen:
                    self.duplicates += 1
                    continue
                t0 = self.sent.get(body)
                if t0 is not None:
                    self.seen.add(body)
                    self.latency.samples_ms.append((now - t0) * 1000)

    async def _read_visitor(self, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                if '"ack"' in raw:
                    body = json.loads(raw)["entry"]["body"]
                    t0 = self.sent.get(body)
                    if t0 is not None:
                        self.acks.samples_ms.append((now - t0) * 1000)
                elif '"error"' in raw:
                    self.errors += 1

    async def _visitor_retrying(self, i: int, sem: asyncio.Semaphore) -> None:
        for _attempt in range(3):
            try:
                await self._visitor(i, sem)
                return
            except Exception:  # noqa: BLE001 - counted and reported, then retried
                self.connect_failures += 1

    async def open(self) -> None:
        sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
        await asyncio.gather(*(self._visitor_retrying(i, sem) for i in range(VISITORS)))
        share = [self.rooms[n::AGENTS] for n in range(AGENTS)]
        await asyncio.gather(*(self._agent(n, share[n]) for n in range(AGENTS)))
        self.tasks += [asyncio.create_task(self._read_visitor(ws)) for ws in self.visitors]

    async def load(self) -> None:
        total = RATE * SECONDS
        stored0 = await asyncio.to_thread(self.stored) if self.stored else 0
        server0, client0 = cpu_seconds(self.server_pids), time.process_time()
        start = time.perf_counter()
        for k in range(total):
            delay = start + k / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            i = k % len(self.visitors)
            body = f"load:{k}"
            if self.chat:
                frame = {"type": "message", "client_id": str(uuid.uuid4()), "body": body}
            else:
                frame = {"to": self.rooms[i], "body": body}
            self.sent[body] = time.perf_counter()
            await self.visitors[i].send(json.dumps(frame))
        self.latency.elapsed_s = self.send_elapsed_s = time.perf_counter() - start
        deadline = time.monotonic() + DRAIN_SECONDS
        while len(self.seen) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # late duplicates would show up here
        self.server_cpu_s = cpu_seconds(self.server_pids) - server0
        self.client_cpu_s = time.process_time() - client0
        stored1 = await asyncio.to_thread(self.stored) if self.stored else 0
        self.stored_during = stored1 - stored0

    @property
    def server_cpu_ms_per_message(self) -> float:
        """Serving processes' CPU per message stored (relayed, for the bare relay)."""
        return self.server_cpu_s / (self.stored_during or len(self.seen) or 1) * 1000

    def cpu_report(self) -> str:
        return (
            f"sent for {self.send_elapsed_s:.1f}s; CPU over load + drain: server "
            f"{self.server_cpu_s:.1f}s ({self.server_cpu_ms_per_message:.2f} ms per message, "
            f"{self.stored_during or len(self.seen)} stored or relayed meanwhile), "
            f"client {self.client_cpu_s:.1f}s; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await _close_all(self.visitors + self.agents)


async def _close_all(sockets: list[Any]) -> None:
    """All at once, each bounded: one by one, a starved server makes this take hours."""

    async def one(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), timeout=5)

    await asyncio.gather(*(one(ws) for ws in sockets))


async def _run_traffic(
    base: str,
    chat: bool,
    sessions: list[str],
    server_pids: list[int] | None = None,
    stored: Callable[[], int] | None = None,
) -> Traffic:
    traffic = Traffic(base, chat, sessions, server_pids, stored)
    try:
        await asyncio.wait_for(traffic.open(), timeout=1200)
        log(
            f"{'chat' if chat else 'echo'}: {len(traffic.visitors)} visitors, "
            f"{len(traffic.agents)} agents connected; {RATE}/s for {SECONDS}s"
        )
        await asyncio.wait_for(traffic.load(), timeout=SECONDS * 3 + DRAIN_SECONDS + 30)
        log(f"{'chat' if chat else 'echo'}: {traffic.cpu_report()}")
    finally:
        await traffic.close()
    return traffic


# --- idle sockets, held by client processes of their own -----------------------------


async def _hold_idle(ws_url: str, origin: str, count: int) -> None:
    """An idle client process: open `count` visitor sockets that say hello, print
    one JSON line ({"held", "failed", "first_error"}), keep them until stdin closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    held: list[Any] = []  # every socket opened, ready or not: all are closed at the end
    ready = 0
    failed: list[str] = []
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> None:
        nonlocal ready
        try:
            async with sem:
                ws = await connect(
                    ws_url,
                    origin=origin,  # type: ignore[arg-type]
                    compression=None,
                    ping_interval=None,
                    open_timeout=120,
                )
                held.append(ws)
                await ws.send(json.dumps({"type": "hello"}))
                if json.loads(await ws.recv()).get("type") != "ready":
                    raise RuntimeError("an idle visitor was refused")
                ready += 1
        # Counted and reported: one dropped socket is a result, not a crash.
        except (OSError, TimeoutError, RuntimeError, WebSocketException) as exc:
            failed.append(repr(exc))

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), timeout=900)
    report = {"held": ready, "failed": len(failed), "first_error": failed[0] if failed else ""}
    print(json.dumps(report), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await _close_all(held)


def _raise_open_files_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class IdleClients:
    """Processes holding `total` idle visitor sockets on `server` between them."""

    def __init__(self, server: Server, total: int) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        ws_url = f"ws{server.base[4:]}/ws/widget/{SLUG}/"
        remaining = total
        while remaining > 0:
            count = min(IDLE_PER_CLIENT, remaining)
            remaining -= count
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.scenarios.chat_load", "hold-idle"]
                    + [ws_url, server.base, str(count)],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            )

    def wait_ready(self, timeout: float) -> tuple[int, int, str]:
        """(sockets held, sockets failed, the first error) once every client reported."""
        held = failed = 0
        first_error = ""
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
            line = proc.stdout.readline() if ready else ""
            if not line:
                raise RuntimeError("an idle client did not report in time")
            report = json.loads(line)
            held += report["held"]
            failed += report["failed"]
            first_error = first_error or report["first_error"]
        return held, failed, first_error

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()  # the client closes its sockets and exits
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _idle(env: dict[str, str]) -> tuple[int, float, float, int]:
    """IDLE visitor sockets on one fresh single-process server: (held, its RSS in MiB
    holding them, its RSS right after start, its open files holding them)."""
    server = Server("helpdesk.asgi:application", env, "idle")
    try:
        rss_start = server.rss_mib()[0]
        clients = IdleClients(server, IDLE)
        try:
            held, failed, first_error = clients.wait_ready(timeout=960)
            time.sleep(5)  # let the server settle before it is measured
            if failed:
                log(f"idle: {failed} sockets failed, first: {first_error}")
            return held, server.rss_mib()[0], rss_start, server.open_files()
        finally:
            clients.stop()
    finally:
        server.stop()


def _run_chat(
    env: dict[str, str], sessions: list[str], stored: Callable[[], int]
) -> tuple[Traffic, list[float], list[float]]:
    """The load on the real app: (traffic, worker RSS after start, worker RSS loaded)."""
    chat = Server("helpdesk.asgi:application", env, "chat", workers=WORKERS)
    try:
        rss_start = chat.rss_mib()
        ours = _asyncio_run(_run_traffic(chat.base, True, sessions, chat.worker_pids(), stored))
        rss_loaded = chat.rss_mib()
    finally:
        chat.stop()
    return ours, rss_start, rss_loaded


def _asyncio_run(coro: Any) -> Any:
    """uvloop when installed (as uvicorn uses it): the client spends less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _fmt_mib(values: list[float]) -> str:
    return "+".join(f"{v:.0f}" for v in values) + " MiB"


def run(ctx: Context) -> list[Result]:
    from conversations.models import Entry

    inbox_id, sessions = _setup()
    env = {
        **ctx.env,
        "WIDGET_VISITOR_RATE": UNREACHABLE_RATE,
        "WIDGET_IP_RATE": UNREACHABLE_RATE,
        "WIDGET_CONNECT_RATE": UNREACHABLE_RATE,
        "WIDGET_HELLO_TIMEOUT": "600",
    }
    shape = f"{VISITORS} visitors + {AGENTS} agents, {RATE}/s for {SECONDS}s, {WORKERS} workers"
    results: list[Result] = []
    base: Traffic | None = None
    if "echo" in PHASES:
        echo = Server("bench.scenarios._chat_echo:application", env, "echo", workers=WORKERS)
        try:
            base = _asyncio_run(_run_traffic(echo.base, False, sessions, echo.worker_pids()))
        finally:
            echo.stop()
        log(f"echo: {base.latency.describe()}")
    if "chat" in PHASES:
        loads = Entry.objects.filter(inbox_id=inbox_id, body__startswith="load:")
        before = loads.count()
        ours, rss_start, rss_loaded = _run_chat(env, sessions, loads.count)
        total = RATE * SECONDS
        stored = loads.count() - before
        # Bodies repeat across runs on a kept database: count this run's only.
        distinct = loads.order_by().values("body").distinct().count()
        distinct = min(distinct, stored)
        lost = total - len(ours.seen)
        log(f"chat: {ours.latency.describe()} acks {ours.acks.describe()}")
        log(
            f"sent {total}, stored {stored} ({distinct} distinct), agent-side lost {lost}, "
            f"duplicates {ours.duplicates}, errors {ours.errors}; "
            f"worker RSS {_fmt_mib(rss_start)} -> {_fmt_mib(rss_loaded)}"
        )
        relay = "bare Channels relay over Redis, same load"
        results += [
            Result(
                "chat_load",
                "visitor -> agent p50",
                ours.latency.p50,
                "ms",
                baseline=base.latency.p50 if base else None,
                baseline_label=relay,
                notes=shape,
            ),
            Result(
                "chat_load",
                "visitor -> agent p99",
                ours.latency.p99,
                "ms",
                baseline=base.latency.p99 if base else None,
                baseline_label=relay,
                notes=shape,
            ),
            Result(
                "chat_load",
                "visitor ack p99",
                ours.acks.p99,
                "ms",
                notes="the message is stored when the ack leaves",
            ),
            Result(
                "chat_load",
                "messages lost (agent side)",
                float(lost),
                "msgs",
                notes=f"sent {total}, stored {stored} ({distinct} distinct), "
                f"duplicates {ours.duplicates}, refused {ours.errors}, "
                f"connect retries {ours.connect_failures}",
            ),
            Result(
                "chat_load",
                "messages not stored",
                float(total - stored),
                "msgs",
                notes=f"of {total}",
            ),
            Result(
                "chat_load",
                "ASGI CPU per message stored",
                ours.server_cpu_ms_per_message,
                "ms",
                baseline=base.server_cpu_ms_per_message if base else None,
                baseline_label="bare relay, per message relayed",
                notes=f"all workers' user + system CPU over the load and its drain; "
                f"client {ours.client_cpu_s:.0f}s CPU",
            ),
            Result(
                "chat_load",
                "ASGI RSS under load, largest worker",
                max(rss_loaded, default=0.0),
                "MiB",
                baseline=max(rss_start, default=0.0) or None,
                baseline_label="same worker right after start",
                notes=f"{shape}; workers {_fmt_mib(rss_loaded)}",
            ),
        ]

    if "idle" in PHASES:
        held, idle_rss, idle_start, open_files = _idle(env)
        log(
            f"idle: {held} sockets held, RSS {idle_rss:.0f} MiB (start {idle_start:.0f} MiB), "
            f"{open_files} open files"
        )
        results.append(
            Result(
                "chat_load",
                f"ASGI RSS holding {held} idle visitor sockets",
                idle_rss,
                "MiB",
                baseline=idle_start or None,
                baseline_label="same process right after start",
                notes=f"one process; target <= 1024 MiB for {IDLE}; {open_files} open files",
            )
        )
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["hold-idle"]:
    _raise_open_files_limit()
    ws_url, origin, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    _asyncio_run(_hold_idle(ws_url, origin, count))
