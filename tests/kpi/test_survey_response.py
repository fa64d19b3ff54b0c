from __future__ import annotations

from datetime import UTC, datetime

from conversations import signals
from conversations.models import Entry
from kpi.actions import SurveyError, record_survey_response
from kpi.models import KpiConversationFact, KpiDirty, SurveyResponse
from tests.kpi.helpers import KpiTestCase

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class RecordSurveyResponseTests(KpiTestCase):
    def setUp(self) -> None:
        self.conversation = self.inbound(T0, "chat", "visitor-1", "chat").conversation

    def test_it_stores_the_response_and_a_timeline_entry(self):
        heard: list[dict] = []

        def receiver(sender, **kwargs):
            heard.append(kwargs)

        signals.survey_answered.connect(receiver)
        try:
            with self.captureOnCommitCallbacks(execute=True):
                response = record_survey_response(
                    self.conversation, survey="csat", score=4, comment=" Quick ", channel="chat"
                )
        finally:
            signals.survey_answered.disconnect(receiver)
        entry = Entry.objects.get(event="survey_answered")
        self.assertEqual(entry.kind, "event")
        self.assertEqual(entry.channel, "chat")
        self.assertEqual(entry.parameters, {"survey": "csat", "score": 4, "comment": "Quick"})
        self.assertEqual(response.entry, entry)
        self.assertEqual(response.contact_id, self.conversation.contact_id)
        # Marked dirty, and the refresh it triggered consumed the mark.
        self.assertFalse(KpiDirty.objects.exists())
        self.assertTrue(KpiConversationFact.objects.filter(pk=self.conversation.pk).exists())
        self.assertEqual(
            heard,
            [
                {
                    "signal": signals.survey_answered,
                    "conversation_id": self.conversation.pk,
                    "entry_id": entry.pk,
                    "survey": "csat",
                    "score": 4,
                }
            ],
        )

    def test_it_accepts_nps_zero_and_ten(self):
        record_survey_response(self.conversation, survey="nps", score=0)
        record_survey_response(self.conversation, survey="nps", score=10)
        self.assertEqual(SurveyResponse.objects.count(), 2)

    def test_it_rejects_out_of_range_scores_with_a_clear_error(self):
        for survey, score in [("csat", 0), ("csat", 6), ("nps", 11), ("nps", -1)]:
            with self.assertRaisesMessage(SurveyError, "score is from"):
                record_survey_response(self.conversation, survey=survey, score=score)
        with self.assertRaisesMessage(SurveyError, "Unknown survey"):
            record_survey_response(self.conversation, survey="ces", score=3)
        with self.assertRaisesMessage(SurveyError, "whole number"):
            record_survey_response(self.conversation, survey="csat", score="4")  # type: ignore[arg-type]
        self.assertFalse(SurveyResponse.objects.exists())
        self.assertFalse(Entry.objects.filter(event="survey_answered").exists())
