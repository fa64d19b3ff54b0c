"""Every state change of the kpi app: survey responses, survey requests, targets."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events, realtime, signals
from conversations.models import Conversation
from kpi import compute
from kpi.models import (
    SCORE_RANGES,
    KpiDirty,
    KpiState,
    KpiTarget,
    SurveyRequest,
    SurveyResponse,
)

STATE_KEY = "facts"


class SurveyError(ValueError):
    """The response cannot be recorded as given; the message is for the user."""


class TargetError(ValueError):
    """A target's thresholds don't make sense; the message is for the user."""


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
    """Queue conversations for the next KPI refresh (one INSERT; repeats are ignored)."""
    KpiDirty.objects.bulk_create(
        [KpiDirty(conversation_id=cid) for cid in set(conversation_ids)], ignore_conflicts=True
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


def mark_contact_dirty(contact_id: int) -> None:
    """After a merge moved conversations (without touching them), recompute them all."""
    with transaction.atomic():
        mark_dirty(*Conversation.objects.filter(contact_id=contact_id).values_list("pk", flat=True))


# Conversations updated this long before the watermark are looked at again: a
# transaction that stamped updated_at before the last run but committed after it.
WATERMARK_OVERLAP = timedelta(seconds=60)


@transaction.atomic
def refresh_kpis(*, full: bool = False) -> int:
    """Bring the stored KPI facts up to date; returns how many conversations changed.

    Incremental from the watermark (conversations' updated_at, plus conversations
    marked dirty); everything when `full` or on the first run. Runs serialize on the
    state row, so two workers never write the same facts at once.
    """
    KpiState.objects.get_or_create(key=STATE_KEY)
    state = KpiState.objects.select_for_update(no_key=True).get(key=STATE_KEY)
    now = timezone.now()
    if full or state.watermark is None:
        dirty_rows = list(KpiDirty.objects.values_list("pk", flat=True))
        count = compute.refresh_facts(None)
        KpiDirty.objects.filter(pk__in=dirty_rows).delete()
    else:
        rows = list(KpiDirty.objects.values_list("pk", "conversation_id"))
        dirty = [cid for _pk, cid in rows]
        changed = set(dirty) | set(
            Conversation.objects.filter(
                updated_at__gte=state.watermark - WATERMARK_OVERLAP
            ).values_list("pk", flat=True)
        )
        count = compute.refresh_facts(compute.affected_by(sorted(changed))) if changed else 0
        if rows:
            KpiDirty.objects.filter(pk__in=[pk for pk, _cid in rows]).delete()
    state.watermark = now
    state.refreshed_at = now
    fields = ["watermark", "refreshed_at"]
    if count:
        state.version += 1
        fields.append("version")
        realtime.publish_on_commit(
            realtime.KPI_GROUP, {"type": "kpi.changed", "version": state.version}
        )
    state.save(update_fields=fields)
    return count


def facts_version() -> int:
    return KpiState.objects.filter(key=STATE_KEY).values_list("version", flat=True).first() or 0


@transaction.atomic
def set_target(metric: str, *, green: float, amber: float, direction: str) -> KpiTarget:
    """Change a KPI target; raises TargetError on inconsistent bands."""
    target = KpiTarget.objects.select_for_update(no_key=True).get(metric=metric)
    if direction not in KpiTarget.Direction.values:
        raise TargetError(_("Direction must be higher or lower."))
    if direction == KpiTarget.Direction.HIGHER and amber > green:
        raise TargetError(_("When higher is better, the amber threshold must not exceed green."))
    if direction == KpiTarget.Direction.LOWER and amber < green:
        raise TargetError(_("When lower is better, the amber threshold must not be below green."))
    target.green, target.amber, target.direction = green, amber, direction
    target.save(update_fields=["green", "amber", "direction"])
    return target
