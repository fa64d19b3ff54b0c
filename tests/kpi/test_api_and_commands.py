"""GET /api/v1/kpi/summary/ and `manage.py kpi_summary`: the same JSON for the same arguments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

from django.core.management import CommandError, call_command

from kpi.actions import record_survey_response
from tests.kpi.helpers import KpiTestCase


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class SummaryApiTests(KpiTestCase):
    url = "/api/v1/kpi/summary/"

    def setUp(self) -> None:
        conversation = self.inbound(at(2, 9), "email", "ana@example.com").conversation
        self.reply(conversation, at(2, 9, 30))
        self.resolve(conversation, at(2, 10))
        record_survey_response(conversation, survey="csat", score=5, at=at(2, 11))
        other = self.inbound(at(3, 9), "chat", "visitor-9", "chat").conversation
        self.reply(other, at(3, 9, 10), author=self.charlie)

    def get(self, **params: str):
        return self.client.get(self.url, params)

    def test_agents_are_refused_and_anonymous_users_must_log_in(self):
        self.assertIn(self.get(start="2026-03-01", end="2026-04-01").status_code, (401, 403))
        self.client.force_login(self.alice)
        self.assertEqual(self.get(start="2026-03-01", end="2026-04-01").status_code, 403)

    def test_it_returns_the_kpi_md_json_for_supervisors(self):
        self.client.force_login(self.sam)
        response = self.get(start="2026-03-01", end="2026-04-01")
        self.assertEqual(response.status_code, 200)
        data = response.json()
        self.assertEqual(
            data["period"], {"start": "2026-03-01", "end": "2026-04-01", "time_zone": "UTC"}
        )
        self.assertEqual(
            data["volume"],
            {"conversations": 2, "inbound_messages": 2, "by_channel": {"chat": 1, "email": 1}},
        )
        self.assertEqual(data["frt"], {"median_seconds": 1200.0, "p90_seconds": 1680.0, "count": 2})
        self.assertEqual(data["fcr"], {"percent": 100.0, "first_contact": 1, "resolved": 1})
        self.assertEqual(data["csat"]["percent"], 100.0)
        self.assertEqual(data["nps"]["score"], None)
        self.assertEqual(data["backlog"]["open"], 1)
        for key in ("volume", "frt", "resolution", "fcr", "csat", "nps", "backlog"):
            self.assertIn(key, data)
        self.assertEqual(data["channel_switch"]["matrix"], {})

    def test_filters_by_channel_and_team_name(self):
        self.client.force_login(self.sam)
        chat = self.get(start="2026-03-01", end="2026-04-01", channel="chat").json()
        self.assertEqual(chat["volume"]["conversations"], 1)
        self.assertEqual(chat["frt"]["median_seconds"], 600.0)
        team = self.get(start="2026-03-01", end="2026-04-01", team="support").json()
        self.assertEqual(team["volume"]["conversations"], 2)

    def test_bad_or_missing_dates_are_a_clear_400(self):
        self.client.force_login(self.sam)
        cases = [
            ({"end": "2026-04-01"}, "start is required"),
            ({"start": "2026-03-01", "end": "01/04/2026"}, "end must be a date as YYYY-MM-DD"),
            ({"start": "2026-02-30", "end": "2026-04-01"}, "start is not a valid date"),
            ({"start": "2026-04-01", "end": "2026-04-01"}, "end must be after start"),
            ({"start": "2026-03-01", "end": "2026-04-01", "channel": "fax"}, "Unknown channel"),
            ({"start": "2026-03-01", "end": "2026-04-01", "team": "Nope"}, "Unknown team"),
            ({"start": "2026-03-01", "end": "2026-04-01", "agent": "x@y.z"}, "Unknown agent"),
        ]
        for params, message in cases:
            response = self.get(**params)
            self.assertEqual(response.status_code, 400, params)
            error = response.json()["error"]
            self.assertEqual(error["code"], "invalid")
            self.assertIn(message, error["message"])
            self.assertIn("fields", error)

    def test_the_command_prints_the_same_json(self):
        self.client.force_login(self.sam)
        api = self.get(start="2026-03-01", end="2026-04-01", channel="email").json()
        out = StringIO()
        call_command(
            "kpi_summary",
            "--start",
            "2026-03-01",
            "--end",
            "2026-04-01",
            "--channel",
            "email",
            stdout=out,
        )
        printed = json.loads(out.getvalue())
        for data in (api, printed):
            data["backlog"].pop("oldest_waiting_seconds")
        self.assertEqual(printed, api)

    def test_the_command_reports_bad_arguments(self):
        with self.assertRaisesMessage(CommandError, "end must be after start"):
            call_command("kpi_summary", "--start", "2026-03-02", "--end", "2026-03-01")

    def test_the_summary_costs_a_fixed_number_of_queries(self):
        self.client.force_login(self.sam)
        self.get(start="2026-03-01", end="2026-04-01")
        # Warm: the version, the live backlog (plus session and user).
        with self.assertNumQueries(4):
            self.get(start="2026-03-01", end="2026-04-01")
        for i in range(5):
            self.inbound(at(5, 9 + i), "sms", f"+38591000000{i}", "phone")
        # Cold, with more data: the same count as with less.
        from django.core.cache import cache

        cache.clear()
        with self.assertNumQueries(15):
            self.get(start="2026-03-01", end="2026-04-01")
