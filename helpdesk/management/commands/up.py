"""`manage.py up`: the whole product in one command (what `make run` calls).

Starts the embedded Redis (unless REDIS_URL is set), migrates, loads the demo
workspace once, then runs the ASGI server (HTTP + websockets), a Celery worker
and Celery beat as child processes. Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from helpdesk.embedded_redis import EmbeddedRedis


def web_concurrency() -> int:
    """WEB_CONCURRENCY, else one ASGI process per core."""
    return int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)


class Command(BaseCommand):
    help = "Run web (ASGI), websockets, Celery worker and beat, and the embedded Redis together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--no-demo",
            action="store_true",
            default=os.environ.get("DEMO", "1") == "0",
            help="don't load the demo workspace (also DEMO=0)",
        )
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "2"))
        )
        parser.add_argument(
            "--web-workers",
            type=int,
            default=web_concurrency(),
            help="ASGI server processes (also WEB_CONCURRENCY; default: number of cores)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["port"] < 65536:
            raise CommandError(f"--port must be 1-65535, got {options['port']}")
        if options["web_workers"] < 1:
            raise CommandError(f"--web-workers must be at least 1, got {options['web_workers']}")
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.redis: EmbeddedRedis | None = None
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start(options)
            self._watch()
        finally:
            self._stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self, options: dict[str, Any]) -> None:
        env = os.environ.copy()
        if settings.EMBEDDED_REDIS:
            self.redis = EmbeddedRedis(
                port=settings.EMBEDDED_REDIS_PORT, directory=Path(settings.VAR_DIR) / "redis"
            )
            try:
                self.redis.start()
            except RuntimeError as exc:
                raise CommandError(
                    f"{exc}. Is port {settings.EMBEDDED_REDIS_PORT} taken? "
                    "Set EMBEDDED_REDIS_PORT, or REDIS_URL to use your own Redis."
                ) from exc
            self.stdout.write(f"embedded Redis on {self.redis.url}")
        # Children compute the same settings; passing REDIS_URL keeps them on this Redis.
        env["REDIS_URL"] = settings.REDIS_URL
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not options["no_demo"]:
            call_command("seed_demo")
        python = sys.executable
        host, port = options["host"], str(options["port"])
        self._spawn(
            "web",
            [
                python,
                "-m",
                "uvicorn",
                "helpdesk.asgi:application",
                "--host",
                host,
                "--port",
                port,
                "--proxy-headers",
                # One process per core (each serves HTTP on WEB_THREADS threads, see
                # helpdesk/asgi.py). Websockets work across them: the channel layer is
                # Redis, never in-memory.
                "--workers",
                str(options["web_workers"]),
                "--log-level",
                "info",
            ],
            env,
        )
        self._spawn(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "helpdesk",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["workers"]),
            ],
            env,
        )
        self._spawn(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "helpdesk",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
            ],
            env,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nHelpdesk is running at http://{host}:{port}/  (health: /healthz)\n"
                "Press Ctrl-C to stop everything.\n"
            )
        )

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter
        self.children.append((name, process))

    def _watch(self) -> None:
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    self.stopping = True
                    raise CommandError(f"{name} exited with code {process.returncode}; stopping")
            time.sleep(0.5)

    def _stop(self) -> None:
        for _name, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        if self.redis is not None:
            self.redis.stop()
        if self.children:
            self.stdout.write("stopped web, worker, beat" + (" and Redis" if self.redis else ""))
