"""Recompute every stored KPI fact from the conversations and their timelines."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from kpi.actions import refresh_kpis


class Command(BaseCommand):
    help = "Rebuild all KPI facts (after an import, or a change of WORKSPACE_TIME_ZONE)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        count = refresh_kpis(full=True)
        elapsed = time.monotonic() - started
        self.stdout.write(f"rebuilt KPI facts of {count} conversations in {elapsed:.2f} s")
