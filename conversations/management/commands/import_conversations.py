"""Import conversation history from JSON Lines (IMPORT_FORMAT.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.importer import BATCH_SIZE, Outcome, import_lines


class Command(BaseCommand):
    help = (
        "Import conversations from a JSON Lines file, one conversation per line; "
        "idempotent on external_id. Run `manage.py kpi_rebuild` afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to the .jsonl file, or - for standard input")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        last = [0.0]
        show = not options["no_progress"]

        def progress(outcome: Outcome) -> None:
            now = time.monotonic()
            if show and now - last[0] >= 0.5:
                last[0] = now
                rate = outcome.lines / max(now - started, 1e-9)
                self.stderr.write(
                    f"\r{outcome.lines:>10,} lines  {rate:>8,.0f}/s  {outcome.failed:,} failed",
                    ending="",
                )
                self.stderr.flush()

        def error(line: int, reason: str) -> None:
            self.stderr.write(f"\nline {line}: {reason}" if show else f"line {line}: {reason}")

        path = options["file"]
        if path == "-":
            outcome = import_lines(
                sys.stdin, batch_size=options["batch_size"], on_error=error, on_progress=progress
            )
        else:
            file = Path(path)
            if not file.is_file():
                raise CommandError(f"No such file: {path}")
            with file.open(encoding="utf-8") as stream:
                outcome = import_lines(
                    stream,
                    batch_size=options["batch_size"],
                    on_error=error,
                    on_progress=progress,
                )
        elapsed = time.monotonic() - started
        if show:
            self.stderr.write("")
        rate = (outcome.imported + outcome.updated + outcome.skipped) / max(elapsed, 1e-9)
        self.stdout.write(
            f"imported {outcome.imported}, updated {outcome.updated}, "
            f"skipped {outcome.skipped}, failed {outcome.failed} "
            f"({elapsed:.1f} s, {rate:,.0f} conversations/s)"
        )
        if outcome.failed:
            raise CommandError(f"{outcome.failed} line(s) failed; see the messages above.")
