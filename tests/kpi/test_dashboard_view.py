"""/kpi/: the manager's page, its CSV exports and the targets form."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import time_machine

from helpdesk.models import Agent, Team
from kpi.models import KpiTarget
from tests.kpi.helpers import KpiTestCase


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


PERIOD = {"start": "2026-03-01", "end": "2026-04-01"}


class DashboardViewTests(KpiTestCase):
    def setUp(self) -> None:
        one = self.inbound(at(2, 9), "email", "ana@example.com").conversation
        self.reply(one, at(2, 9, 30))  # 30 min: green against the 1 h default
        self.resolve(one, at(2, 10))
        two = self.inbound(at(3, 9), "chat", "ana@example.com", "email").conversation
        self.assertEqual(two.pk, one.pk)  # reopened within the window: not FCR
        self.client.force_login(self.sam)

    def test_agents_get_403(self):
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get("/kpi/", PERIOD).status_code, 403)

    def test_cards_are_coloured_against_the_targets(self):
        response = self.client.get("/kpi/", PERIOD)
        self.assertEqual(response.status_code, 200)
        cards = {c.metric: c for c in response.context["cards"]}
        self.assertEqual(cards["frt_median"].value, 1800.0)
        self.assertEqual(cards["frt_median"].colour, "green")
        self.assertEqual(cards["csat"].colour, "none")  # no responses: no colour, no 0
        self.assertContains(response, 'id="card-frt_median" data-colour="green"')
        KpiTarget.objects.filter(metric="frt_median").update(green=600, amber=1200)
        response = self.client.get("/kpi/", PERIOD)
        self.assertContains(response, 'id="card-frt_median" data-colour="red"')

    def test_the_page_costs_a_fixed_number_of_queries_warm(self):
        self.client.get("/kpi/", PERIOD)
        # session, user, version, targets (cards and form), teams, agents; the backlog
        # counts are reused for a few seconds.
        with self.assertNumQueries(6):
            self.client.get("/kpi/", PERIOD)

    def test_the_page_shows_the_channel_switch_heat_map_and_tables(self):
        response = self.client.get("/kpi/", PERIOD)
        self.assertContains(response, 'id="table-matrix"')
        self.assertContains(response, 'id="table-channels"')
        self.assertContains(response, 'id="table-agents"')
        self.assertContains(response, 'id="table-teams"')
        self.assertContains(response, "<svg", count=4)

    def test_every_table_exports_as_csv(self):
        for table in ("summary", "channels", "agents", "teams", "matrix", "trends"):
            response = self.client.get(f"/kpi/export/{table}.csv", PERIOD)
            self.assertEqual(response.status_code, 200, table)
            self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
            rows = list(csv.reader(StringIO(response.content.decode())))
            self.assertGreater(len(rows), 1, table)
        matrix = self.client.get("/kpi/export/matrix.csv", PERIOD).content.decode()
        self.assertIn("email,chat,1", matrix)
        self.assertEqual(self.client.get("/kpi/export/nope.csv", PERIOD).status_code, 404)

    def test_the_cached_tables_follow_the_facts_and_the_filters(self):
        def channel_rows(response: Any) -> str:
            html = response.content.decode()
            start = html.index('id="table-channels"')
            return html[start : html.index("</table>", start)]

        before = channel_rows(self.client.get("/kpi/", PERIOD))
        self.assertIn("<td>E-mail</td><td>1</td>", before)
        self.assertNotIn("<td>SMS</td>", before)
        self.inbound(at(4, 9), "sms", "+385911234567", "phone")  # refreshes the facts
        after = channel_rows(self.client.get("/kpi/", PERIOD))
        self.assertIn("<td>SMS</td><td>1</td>", after)
        email_only = channel_rows(self.client.get("/kpi/", {**PERIOD, "channel": "email"}))
        self.assertNotIn("<td>SMS</td>", email_only)

    def test_the_cached_menus_targets_and_cards_follow_what_they_show(self):
        self.client.get("/kpi/", PERIOD)  # every fragment cached
        newcomer = Agent.objects.create_user("newcomer@example.com", name="Newcomer")
        team = Team.objects.create(name="Night shift")
        KpiTarget.objects.filter(metric="frt_median").update(green=600, amber=1200)
        response = self.client.get("/kpi/", {**PERIOD, "team": str(team.pk)})
        self.assertContains(response, f'<option value="{newcomer.pk}">Newcomer</option>')
        self.assertContains(response, f'<option value="{team.pk}" selected>Night shift</option>')
        self.assertContains(response, 'name="frt_median-green" value="600.0"')
        # The team has no conversations: the cards follow the filter too.
        self.assertContains(response, 'id="card-volume" data-colour="none" data-value="0"')
        newcomer.name = "Renamed"
        newcomer.save(update_fields=["name"])
        response = self.client.get("/kpi/", PERIOD)
        self.assertContains(response, f'<option value="{newcomer.pk}">Renamed</option>')

    def test_the_backlog_card_is_live_while_the_other_cards_are_cached(self):
        # The reopened conversation has waited since 3 March 09:00.
        with time_machine.travel(at(5, 9), tick=False):
            first = self.client.get("/kpi/", PERIOD)
        with time_machine.travel(at(5, 10), tick=False):
            second = self.client.get("/kpi/", PERIOD)
        for response, seconds in ((first, 2 * 86400), (second, 2 * 86400 + 3600)):
            self.assertContains(
                response, f'id="card-backlog_oldest" data-colour="red" data-value="{seconds}.0"'
            )
            self.assertContains(response, 'id="card-frt_median" data-colour="green"')

    def test_filters_change_the_numbers(self):
        chat = self.client.get("/kpi/", {**PERIOD, "channel": "chat"})
        cards = {c.metric: c for c in chat.context["cards"]}
        self.assertEqual(cards["volume"].value, 0)

    def test_bad_dates_are_a_clear_400(self):
        response = self.client.get("/kpi/", {"start": "2026-13-01", "end": "2026-04-01"})
        self.assertContains(response, "start is not a valid date", status_code=400)

    def test_targets_are_editable_and_checked(self):
        response = self.client.post(
            "/kpi/targets/",
            {"csat-green": "90", "csat-amber": "80", "csat-direction": "higher", "next": "/kpi/"},
        )
        self.assertRedirects(response, "/kpi/", fetch_redirect_response=False)
        target = KpiTarget.objects.get(metric="csat")
        self.assertEqual((target.green, target.amber), (90.0, 80.0))
        response = self.client.post(
            "/kpi/targets/", {"csat-green": "70", "csat-amber": "80", "csat-direction": "higher"}
        )
        self.assertContains(response, "amber threshold must not exceed green", status_code=400)
