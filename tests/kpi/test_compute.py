"""Every KPI of KPI.md on hand-built histories, with the cases that break naive code."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.test import SimpleTestCase, override_settings

from conversations.models import Conversation
from kpi import compute
from kpi.actions import record_survey_response, refresh_kpis
from kpi.compute import Filters, percentile_cont
from tests.kpi.helpers import KpiTestCase


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


MARCH = (date(2026, 3, 1), date(2026, 4, 1))


class PercentileTests(SimpleTestCase):
    def test_it_interpolates_between_closest_ranks_like_percentile_cont(self):
        self.assertEqual(percentile_cont([600, 1800, 3600], 0.5), 1800.0)
        self.assertAlmostEqual(
            percentile_cont(  # type: ignore[arg-type]
                [600, 1800, 3600], 0.9
            ),
            3240.0,
        )
        self.assertEqual(percentile_cont([10, 20, 30, 40], 0.5), 25.0)
        self.assertAlmostEqual(
            percentile_cont(  # type: ignore[arg-type]
                [10, 20, 30, 40], 0.9
            ),
            37.0,
        )
        self.assertEqual(percentile_cont([7], 0.9), 7.0)

    def test_no_values_is_null_not_zero(self):
        self.assertIsNone(percentile_cont([], 0.5))


class FrtTests(KpiTestCase):
    def test_auto_replies_and_notes_before_the_first_human_reply_do_not_count(self):
        first = self.inbound(at(2, 9), "email", "ana@example.com").conversation
        self.reply(first, at(2, 9, 1), is_auto=True, body="We got your message")
        self.note(first, at(2, 9, 2))
        self.reply(first, at(2, 9, 30))  # 1800 s
        second = self.inbound(at(3, 9), "chat", "v-2", "chat").conversation
        self.reply(second, at(3, 9, 10))  # 600 s
        third = self.inbound(at(4, 9), "sms", "+385911234567", "phone").conversation
        self.reply(third, at(4, 10))  # 3600 s
        self.reply(third, at(4, 11))  # a second reply changes nothing
        self.inbound(at(5, 9), "email", "nobody@example.com")  # no reply: not counted

        frt = compute.frt(*MARCH, Filters())
        self.assertEqual(frt, {"median_seconds": 1800.0, "p90_seconds": 3240.0, "count": 3})
        self.assertEqual(compute.volume(*MARCH, Filters())["conversations"], 4)

    def test_an_empty_period_is_null_not_zero(self):
        self.inbound(at(2, 9))
        summary = compute.summary(date(2026, 5, 1), date(2026, 6, 1))
        self.assertEqual(summary["frt"], {"median_seconds": None, "p90_seconds": None, "count": 0})
        self.assertEqual(summary["resolution"]["median_seconds"], None)
        self.assertEqual(summary["fcr"], {"percent": None, "first_contact": 0, "resolved": 0})
        self.assertIsNone(summary["csat"]["percent"])
        self.assertIsNone(summary["nps"]["score"])
        self.assertIsNone(summary["channel_switch"]["percent"])
        self.assertEqual(summary["volume"]["conversations"], 0)

    def test_the_period_end_is_exclusive_and_days_are_workspace_days(self):
        self.inbound(at(31, 23, 30))  # 2026-03-31 23:30 UTC
        with override_settings(WORKSPACE_TIME_ZONE="Europe/Zagreb"):
            refresh_kpis(full=True)
            # 01:30 on 1 April in Zagreb: April, not March.
            self.assertEqual(compute.volume(*MARCH, Filters())["conversations"], 0)
            april = compute.volume(date(2026, 4, 1), date(2026, 4, 2), Filters())
            self.assertEqual(april["conversations"], 1)
        refresh_kpis(full=True)
        self.assertEqual(compute.volume(*MARCH, Filters())["conversations"], 1)


class ResolutionAndFcrTests(KpiTestCase):
    def test_a_reopened_conversation_counts_once_from_creation_to_the_last_resolution(self):
        conversation = self.inbound(at(2, 9)).conversation
        self.reply(conversation, at(2, 9, 5))
        self.resolve(conversation, at(2, 10))
        self.reopen(conversation, at(2, 11))
        self.resolve(conversation, at(2, 13))
        resolution = compute.resolution(*MARCH, Filters())
        self.assertEqual(
            resolution, {"median_seconds": 14400.0, "p90_seconds": 14400.0, "count": 1}
        )
        fcr = compute.fcr(*MARCH, Filters())
        self.assertEqual(fcr, {"percent": 0.0, "first_contact": 0, "resolved": 1})

    def test_an_open_conversation_is_not_resolved(self):
        conversation = self.inbound(at(2, 9)).conversation
        self.resolve(conversation, at(2, 10))
        self.reopen(conversation, at(2, 11))
        self.assertEqual(compute.resolution(*MARCH, Filters())["count"], 0)

    def test_more_than_one_human_reply_is_not_first_contact(self):
        one = self.inbound(at(2, 9), who="one@example.com").conversation
        self.reply(one, at(2, 9, 5))
        self.reply(one, at(2, 9, 6), is_auto=True)
        self.resolve(one, at(2, 10))
        two = self.inbound(at(2, 9), who="two@example.com").conversation
        self.reply(two, at(2, 9, 5))
        self.reply(two, at(2, 9, 7))
        self.resolve(two, at(2, 10))
        self.assertEqual(
            compute.fcr(*MARCH, Filters()), {"percent": 50.0, "first_contact": 1, "resolved": 2}
        )

    @override_settings(REOPEN_WINDOW_HOURS=24)
    def test_a_repeat_contact_on_another_channel_inside_the_window_breaks_fcr(self):
        chat = self.inbound(at(2, 9), "chat", "+385911234567", "phone").conversation
        self.reply(chat, at(2, 9, 5))
        self.resolve(chat, at(2, 10))
        # Two days later the same customer calls: a new conversation (reopen window 24 h).
        call = self.inbound(at(4, 10), "phone", "+385 91 123 4567", "phone").conversation
        self.assertNotEqual(call.pk, chat.pk)
        self.reply(call, at(4, 10, 5))
        self.resolve(call, at(4, 11))
        fcr = compute.fcr(*MARCH, Filters())
        # The chat was not resolved at first contact; the call was.
        self.assertEqual(fcr, {"percent": 50.0, "first_contact": 1, "resolved": 2})

    @override_settings(REOPEN_WINDOW_HOURS=24)
    def test_a_new_contact_just_outside_the_window_is_a_new_issue(self):
        chat = self.inbound(at(2, 9), "chat", "+385911234567", "phone").conversation
        self.reply(chat, at(2, 9, 5))
        self.resolve(chat, at(2, 10))
        # 7 days and one minute after the resolution.
        self.inbound(at(9, 10, 1), "email", "+385911234567", "phone")
        self.assertEqual(
            compute.fcr(*MARCH, Filters()), {"percent": 100.0, "first_contact": 1, "resolved": 1}
        )

    @override_settings(REOPEN_WINDOW_HOURS=24)
    def test_exactly_at_the_window_edge_is_still_a_repeat(self):
        chat = self.inbound(at(2, 9), "chat", "+385911234567", "phone").conversation
        self.resolve(chat, at(2, 10))
        self.inbound(at(9, 10), "email", "+385911234567", "phone")
        self.assertEqual(compute.fcr(*MARCH, Filters())["first_contact"], 0)


class SurveyKpiTests(KpiTestCase):
    def test_csat_counts_four_and_five_of_responses_received_in_the_period(self):
        conversation = self.inbound(at(2, 9)).conversation
        for score, day in [(5, 3), (4, 4), (3, 5), (1, 6)]:
            with self.captureOnCommitCallbacks(execute=True):
                record_survey_response(conversation, survey="csat", score=score, at=at(day, 12))
        # Received in April: another period.
        record_survey_response(conversation, survey="csat", score=5, at=at(1, 12, month=4))
        csat = compute.csat(*MARCH, Filters())
        self.assertEqual(csat["percent"], 50.0)
        self.assertEqual((csat["satisfied"], csat["responses"]), (2, 4))

    def test_nps_counts_passives_in_the_total_but_not_the_score(self):
        conversation = self.inbound(at(2, 9)).conversation
        for score in [10, 9, 8, 7, 6, 0]:
            record_survey_response(conversation, survey="nps", score=score, at=at(3, 12))
        nps = compute.nps(*MARCH, Filters())
        # 2 promoters, 2 passives, 2 detractors of 6: 33.3 % - 33.3 % = 0.
        self.assertEqual(
            nps, {"score": 0.0, "promoters": 2, "passives": 2, "detractors": 2, "responses": 6}
        )
        record_survey_response(conversation, survey="nps", score=9, at=at(3, 13))
        nps = compute.nps(*MARCH, Filters())
        self.assertAlmostEqual(nps["score"], (3 - 2) * 100 / 7)


class ChannelSwitchTests(KpiTestCase):
    def test_the_matrix_counts_directly_following_inbound_channels_once_per_conversation(self):
        c = self.inbound(at(2, 9), "email", "+385911234567", "phone").conversation
        self.inbound(at(2, 10), "chat", "+385911234567", "phone")
        self.inbound(at(2, 11), "email", "+385911234567", "phone")
        self.inbound(at(2, 12), "chat", "+385911234567", "phone")
        self.inbound(at(2, 13), "chat", "+385911234567", "phone")
        self.assertEqual(Conversation.objects.get().pk, c.pk)
        self.inbound(at(3, 9), "sms", "+385922222222", "phone")
        self.inbound(at(3, 10), "sms", "+385922222222", "phone")
        switch = compute.channel_switch(*MARCH, Filters())
        self.assertEqual(switch["percent"], 50.0)
        self.assertEqual((switch["switched"], switch["conversations"]), (1, 2))
        self.assertEqual(switch["matrix"], {"chat": {"email": 1}, "email": {"chat": 1}})
        volume = compute.volume(*MARCH, Filters())
        self.assertEqual(volume["by_channel"], {"email": 1, "sms": 1})
        self.assertEqual(volume["inbound_messages"], 7)


class FilterTests(KpiTestCase):
    def test_channel_team_and_agent_filters_narrow_every_kpi(self):
        ana = self.inbound(at(2, 9), "email", "ana@example.com").conversation
        self.reply(ana, at(2, 9, 10), author=self.alice)
        self.assign(ana, self.alice, self.support)
        self.resolve(ana, at(2, 10))
        ben = self.inbound(at(2, 9), "chat", "ben-visitor", "chat").conversation
        self.reply(ben, at(2, 9, 20), author=self.charlie)
        self.assign(ben, self.charlie, self.sales)
        record_survey_response(ben, survey="csat", score=2, at=at(2, 12))

        by_email = compute.summary(*MARCH, Filters(channel="email"))
        self.assertEqual(by_email["volume"]["conversations"], 1)
        self.assertEqual(by_email["frt"]["median_seconds"], 600.0)
        self.assertEqual(by_email["fcr"]["resolved"], 1)
        self.assertEqual(by_email["csat"]["responses"], 0)

        sales = compute.summary(*MARCH, Filters(team_id=self.sales.pk))
        self.assertEqual(sales["frt"]["median_seconds"], 1200.0)
        self.assertEqual(sales["csat"]["responses"], 1)
        self.assertEqual(sales["backlog"]["open"], 1)
        self.assertEqual(sales["fcr"]["resolved"], 0)

        alice = compute.summary(*MARCH, Filters(agent_id=self.alice.pk))
        self.assertEqual(alice["volume"]["conversations"], 1)
        self.assertEqual(
            alice["backlog"], {"open": 0, "pending": 0, "oldest_waiting_seconds": None}
        )

        everyone = compute.summary(*MARCH, now=at(2, 10))
        self.assertEqual(everyone["volume"]["conversations"], 2)
        self.assertEqual(everyone["frt"]["median_seconds"], 900.0)
        self.assertEqual(everyone["backlog"]["open"], 1)

    def assign(self, conversation: Conversation, agent, team) -> None:
        from conversations import actions

        with self.captureOnCommitCallbacks(execute=True):
            actions.assign(conversation, self.sam, assignee=agent, team=team)


class BacklogTests(KpiTestCase):
    def test_backlog_is_open_and_pending_now_with_the_oldest_waiting(self):
        first = self.inbound(at(2, 9), who="a@example.com").conversation
        self.inbound(at(2, 11), who="b@example.com")
        done = self.inbound(at(2, 8), who="c@example.com").conversation
        self.resolve(done, at(2, 9))
        from conversations import actions

        with self.captureOnCommitCallbacks(execute=True):
            actions.set_status(first, self.alice, "pending")
        backlog = compute.backlog(Filters(), now=at(2, 12))
        self.assertEqual(backlog, {"open": 1, "pending": 1, "oldest_waiting_seconds": 3 * 3600.0})

    def test_pages_reuse_the_counts_for_a_few_seconds_but_the_wait_keeps_growing(self):
        self.inbound(at(2, 9), who="a@example.com")
        first = compute.backlog(Filters(), now=at(2, 10), max_age=5)
        self.inbound(at(2, 9, 30), who="b@example.com")
        with self.assertNumQueries(0):
            again = compute.backlog(Filters(), now=at(2, 11), max_age=5)
        self.assertEqual((first["open"], again["open"]), (1, 1))
        self.assertEqual(again["oldest_waiting_seconds"], 2 * 3600.0)
        self.assertEqual(compute.backlog(Filters(), now=at(2, 11))["open"], 2)  # live
        self.assertEqual(compute.backlog(Filters(channel="sms"), max_age=5)["open"], 0)


class IncrementalRefreshTests(KpiTestCase):
    def test_a_new_conversation_updates_the_fcr_of_the_earlier_one_of_that_contact(self):
        with override_settings(REOPEN_WINDOW_HOURS=1):
            first = self.inbound(at(2, 9)).conversation
            self.resolve(first, at(2, 10))
            self.assertEqual(compute.fcr(*MARCH, Filters())["first_contact"], 1)
            self.inbound(at(3, 9))
        self.assertEqual(compute.fcr(*MARCH, Filters())["first_contact"], 0)
        # The stored facts equal a rebuild from scratch.
        before = compute.summary(*MARCH, now=at(4, 0))
        refresh_kpis(full=True)
        self.assertEqual(compute.summary(*MARCH, now=at(4, 0)), before)
