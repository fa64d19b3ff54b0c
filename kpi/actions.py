"""Every state change of the kpi app: survey responses, survey requests, targets."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events, signals
from conversations.models import Conversation
from kpi.models import SCORE_RANGES, KpiDirty, SurveyRequest, SurveyResponse


class SurveyError(ValueError):
    """The response cannot be recorded as given; the message is for the user."""


def validate_score(survey: str, score: object) -> int:
    """The score as an int; raises SurveyError with a clear reason otherwise."""
    if survey not in SCORE_RANGES:
        raise SurveyError(
            _("Unknown survey %(survey)s; expected csat or nps.") % {"survey": survey}
        )
    low, high = SCORE_RANGES[survey]
    if isinstance(score, bool) or not isinstance(score, int):
        raise SurveyError(_("The score must be a whole number."))
    if not low <= score <= high:
        raise SurveyError(
            _("A %(survey)s score is from %(low)d to %(high)d; got %(score)d.")
            % {"survey": survey.upper(), "low": low, "high": high, "score": score}
        )
    return score


def mark_dirty(*conversation_ids: int) -> None:
    """Queue conversations for the next KPI refresh (inside the caller's transaction)."""
    existing = set(
        KpiDirty.objects.filter(conversation_id__in=conversation_ids).values_list(
            "conversation_id", flat=True
        )
    )
    KpiDirty.objects.bulk_create(
        [KpiDirty(conversation_id=cid) for cid in set(conversation_ids) - existing],
        ignore_conflicts=True,
    )


@transaction.atomic
def record_survey_response(
    conversation: Conversation,
    *,
    survey: str,
    score: int,
    comment: str = "",
    channel: str = "",
    at: datetime | None = None,
    request: SurveyRequest | None = None,
) -> SurveyResponse:
    """Store a CSAT (1-5) or NPS (0-10) answer and show it on the timeline.

    Raises SurveyError on a bad survey or score; nothing is written then.
    """
    score = validate_score(survey, score)
    at = at or timezone.now()
    comment = (comment or "").strip()[:2000]
    entry = events.event_survey_answered(conversation, survey, score, comment, channel, at)
    response = SurveyResponse.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        survey=survey,
        score=score,
        comment=comment,
        channel=channel,
        entry=entry,
        request=request,
        received_at=at,
    )
    if request is not None and request.answered_at is None:
        request.answered_at = at
        request.save(update_fields=["answered_at"])
    mark_dirty(conversation.pk)
    signals.send_on_commit(
        signals.entry_created,
        entry_id=entry.pk,
        conversation_id=conversation.pk,
        kind=entry.kind,
        event=entry.event,
    )
    signals.send_on_commit(
        signals.survey_answered,
        conversation_id=conversation.pk,
        entry_id=entry.pk,
        survey=survey,
        score=score,
    )
    return response
