"""Print the KPI summary JSON of KPI.md, exactly as GET /api/v1/kpi/summary/ returns it."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kpi.params import ParamError, parse_query, summary_for


class Command(BaseCommand):
    help = "Print KPIs for [start, end) in the workspace time zone as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="day after the last, YYYY-MM-DD")
        parser.add_argument("--channel", default="")
        parser.add_argument("--team", default="", help="team id or name")
        parser.add_argument("--agent", default="", help="agent id or e-mail")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            query = parse_query(options)
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(summary_for(query), indent=2))
