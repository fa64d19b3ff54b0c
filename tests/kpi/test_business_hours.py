"""Business-hours FRT: weekends, holidays and DST changes, in the schedule's own zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.test import SimpleTestCase

from kpi import compute
from kpi.actions import refresh_kpis
from kpi.business_hours import Schedule, business_seconds
from kpi.compute import Filters
from kpi.models import BusinessSchedule, Holiday
from tests.kpi.helpers import KpiTestCase

ZAGREB = ZoneInfo("Europe/Zagreb")
WEEKDAYS_9_TO_17 = {str(d): [["09:00", "17:00"]] for d in range(5)}


def zagreb(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZAGREB)


class BusinessSecondsTests(SimpleTestCase):
    schedule = Schedule.from_spec("Europe/Zagreb", WEEKDAYS_9_TO_17)

    def test_it_counts_only_opening_hours_across_a_weekend_and_the_spring_dst_change(self):
        # Friday 27 March 16:00 CET -> Monday 30 March 10:00 CEST (clocks went forward on
        # Sunday 29 March): one hour on Friday, one on Monday.
        start, end = zagreb(2026, 3, 27, 16), zagreb(2026, 3, 30, 10)
        self.assertEqual(business_seconds(start, end, self.schedule), 7200.0)
        # The wall clock says 66 h; really 65 h passed.
        self.assertEqual((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds(), 65 * 3600)

    def test_a_day_of_the_autumn_dst_change_keeps_eight_opening_hours(self):
        sunday_open = Schedule.from_spec("Europe/Zagreb", {"6": [["00:00", "00:00"]]})
        # Sunday 25 October 2026 has 25 hours in Zagreb.
        start, end = zagreb(2026, 10, 25, 0), zagreb(2026, 10, 26, 0)
        self.assertEqual(business_seconds(start, end, sunday_open), 25 * 3600.0)

    def test_holidays_are_closed(self):
        with_holiday = Schedule.from_spec(
            "Europe/Zagreb", WEEKDAYS_9_TO_17, frozenset({date(2026, 3, 30)})
        )
        start, end = zagreb(2026, 3, 27, 16), zagreb(2026, 3, 31, 10)
        self.assertEqual(business_seconds(start, end, with_holiday), 2 * 3600.0)

    def test_outside_hours_and_backwards_spans_are_zero(self):
        self.assertEqual(
            business_seconds(zagreb(2026, 3, 28, 9), zagreb(2026, 3, 29, 18), self.schedule), 0.0
        )
        self.assertEqual(
            business_seconds(zagreb(2026, 3, 30, 12), zagreb(2026, 3, 30, 11), self.schedule), 0.0
        )

    def test_bad_hours_are_a_clear_error(self):
        with self.assertRaisesMessage(ValueError, "closes before it opens"):
            Schedule.from_spec("UTC", {"0": [["17:00", "09:00"]]})
        with self.assertRaisesMessage(ValueError, "weekday must be 0-6"):
            Schedule.from_spec("UTC", {"7": [["09:00", "17:00"]]})


class BusinessFrtTests(KpiTestCase):
    def test_business_frt_uses_the_team_schedule_over_the_workspace_one(self):
        BusinessSchedule.objects.filter(team__isnull=True).update(
            time_zone="UTC", hours={str(d): [["00:00", "00:00"]] for d in range(7)}
        )
        team_schedule = BusinessSchedule.objects.create(
            name="Support Zagreb",
            team=self.support,
            time_zone="Europe/Zagreb",
            hours=WEEKDAYS_9_TO_17,
        )
        conversation = self.inbound(zagreb(2026, 3, 27, 16)).conversation
        self.reply(conversation, zagreb(2026, 3, 30, 10))
        refresh_kpis(full=True)
        period = (date(2026, 3, 1), date(2026, 4, 1))
        self.assertEqual(compute.frt(*period, Filters())["median_seconds"], 65 * 3600.0)
        business = compute.frt(*period, Filters(), business=True)
        self.assertEqual(business["median_seconds"], 7200.0)
        Holiday.objects.create(schedule=team_schedule, day=date(2026, 3, 30), name="Holiday")
        refresh_kpis(full=True)
        business = compute.frt(*period, Filters(), business=True)
        self.assertEqual(business["median_seconds"], 3600.0)
