"""Surveys on resolution, on the channel the customer last used."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from django.test import override_settings
from django.utils import timezone

from conversations.models import Entry
from kpi import surveys
from kpi.models import SurveyRequest, SurveyResponse
from tests.kpi.helpers import KpiTestCase


class SurveyTestCase(KpiTestCase):
    def resolved(self, channel: str, who: str, kind: str, **kwargs):
        now = timezone.now()
        entry = self.inbound(now - timedelta(minutes=30), channel, who, kind, **kwargs)
        conversation = entry.conversation
        self.reply(conversation, now - timedelta(minutes=20))
        self.resolve(conversation, now - timedelta(minutes=10))
        return conversation


class ChatSurveyTests(SurveyTestCase):
    def test_chat_gets_buttons_on_the_timeline_and_nps_once_per_90_days(self):
        first = self.resolved("chat", "visitor-1", "chat")
        asked = Entry.objects.filter(conversation=first, event="survey_requested")
        self.assertEqual(
            sorted(
                (e.parameters["survey"], e.parameters["low"], e.parameters["high"]) for e in asked
            ),
            [("csat", 1, 5), ("nps", 0, 10)],
        )
        self.assertTrue(all(e.channel == "chat" for e in asked))
        # The task running again asks nothing more.
        surveys.request_survey(first.pk)
        self.assertEqual(SurveyRequest.objects.filter(conversation=first).count(), 2)
        with time_machine.travel(timezone.now() + timedelta(days=30)):
            second = self.resolved("chat", "visitor-1", "chat")
        self.assertNotEqual(second.pk, first.pk)
        self.assertEqual(
            list(
                SurveyRequest.objects.filter(conversation=second).values_list("survey", flat=True)
            ),
            ["csat"],
        )

    def test_no_survey_after_an_automatic_message_from_the_customer_side(self):
        conversation = self.inbound(timezone.now(), "chat", "visitor-2", "chat").conversation
        self.inbound(timezone.now(), "chat", "visitor-2", "chat", is_auto=True, body="I'm away")
        self.resolve(conversation, timezone.now())
        self.assertFalse(SurveyRequest.objects.exists())

    @override_settings(KPI_SURVEYS_ENABLED=False)
    def test_surveys_can_be_switched_off(self):
        self.resolved("chat", "visitor-3", "chat")
        self.assertFalse(SurveyRequest.objects.exists())


class EmailSurveyTests(SurveyTestCase):
    def link(self) -> str:
        invitation = Entry.objects.get(kind="outbound", is_auto=True)
        self.assertEqual(invitation.channel, "email")
        match = re.search(r"(/survey/[^/\s]+/)", invitation.body)
        assert match is not None
        return match.group(1)

    def test_the_link_works_once(self):
        conversation = self.resolved("email", "ana@example.com", "email")
        link = self.link()
        page = self.client.get(link)
        self.assertContains(page, "How satisfied are you")
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(link, {"score": "4", "comment": "Nice"})
        self.assertContains(response, "Thank you")
        answer = SurveyResponse.objects.get()
        self.assertEqual((answer.score, answer.comment, answer.channel), (4, "Nice", "email"))
        self.assertEqual(answer.conversation, conversation)
        self.assertTrue(Entry.objects.filter(event="survey_answered").exists())
        again = self.client.post(link, {"score": "1"})
        self.assertContains(again, "already answered")
        self.assertEqual(SurveyResponse.objects.count(), 1)

    def test_bad_scores_tampered_and_expired_links_are_refused_clearly(self):
        self.resolved("email", "ana@example.com", "email")
        link = self.link()
        self.assertContains(self.client.post(link, {"score": "9"}), "from 1 to 5", status_code=400)
        self.assertContains(self.client.post(link, {}), "choose a score", status_code=400)
        self.assertContains(self.client.get(link[:-3] + "x/"), "not valid", status_code=410)
        with time_machine.travel(timezone.now() + timedelta(days=15)):
            self.assertContains(self.client.get(link), "expired", status_code=410)
        self.assertFalse(SurveyResponse.objects.exists())


class TextSurveyTests(SurveyTestCase):
    def test_an_sms_customer_replies_with_a_digit(self):
        conversation = self.resolved("sms", "+385911234567", "phone")
        invitation = Entry.objects.get(kind="outbound", is_auto=True)
        self.assertEqual(invitation.channel, "sms")
        self.assertIn("1 (poor) to 5 (great)", invitation.body)
        self.inbound(timezone.now(), "sms", "+385911234567", "phone", body="5 great, thanks")
        answer = SurveyResponse.objects.get()
        self.assertEqual(
            (answer.score, answer.comment, answer.channel), (5, "great, thanks", "sms")
        )
        self.assertEqual(answer.conversation, conversation)
        # A survey answer is not a reopened problem: FCR stays intact.
        conversation.refresh_from_db()
        self.assertEqual(conversation.status, "resolved")
        self.assertEqual(conversation.reopened_count, 0)
        self.assertIsNone(conversation.waiting_since)
        # Answered: the next message is a normal message, and it reopens.
        self.inbound(timezone.now(), "sms", "+385911234567", "phone", body="3")
        self.assertEqual(SurveyResponse.objects.count(), 1)
        conversation.refresh_from_db()
        self.assertEqual((conversation.status, conversation.reopened_count), ("open", 1))

    def test_anything_else_gets_one_clear_answer(self):
        self.resolved("whatsapp", "+385911234567", "phone")
        self.inbound(timezone.now(), "whatsapp", "+385911234567", "phone", body="what?")
        clarification = Entry.objects.filter(kind="outbound", is_auto=True).order_by("-id")[0]
        self.assertIn("could not read a rating", clarification.body)
        self.inbound(timezone.now(), "whatsapp", "+385911234567", "phone", body="still broken")
        self.assertEqual(Entry.objects.filter(kind="outbound", is_auto=True).count(), 2)
        self.inbound(timezone.now(), "whatsapp", "+385911234567", "phone", body=" 2 ")
        self.assertEqual(SurveyResponse.objects.get().score, 2)

    def test_parsing(self):
        for text, expected in [
            ("4", (4, "")),
            ("4/5", (4, "")),
            ("5 - great", (5, "great")),
            ("6", None),
            ("45", None),
            ("four", None),
            ("", None),
        ]:
            self.assertEqual(surveys.parse_text_score(text), expected, text)
