"""Asking for CSAT / NPS when a conversation is resolved, on the customer's last channel.

chat: a "survey_requested" timeline entry the widget shows as buttons.
email: an automatic reply with a signed link to /survey/<token>/ (works once, expires).
sms, whatsapp, messenger, instagram, telegram: an automatic "reply 1-5" message; the
customer's next text is parsed (handle_text_reply).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import actions as core
from conversations import events, realtime, signals
from conversations.models import Conversation, Entry
from conversations.payloads import entry_payload
from kpi.actions import SurveyError, record_survey_response
from kpi.models import SurveyRequest

log = logging.getLogger(__name__)

TEXT_CHANNELS = ("sms", "whatsapp", "messenger", "instagram", "telegram")
LINK_SALT = "kpi.survey"
_SCORE_RE = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?\s*(?:[\s,.:;!-]+(.*))?$", re.DOTALL)


def survey_token(request: SurveyRequest) -> str:
    return signing.dumps({"r": request.pk}, salt=LINK_SALT)


def request_from_token(token: str) -> SurveyRequest:
    """The request a link points at; raises SurveyError (expired, tampered, unknown)."""
    max_age = timedelta(days=settings.KPI_SURVEY_MAX_AGE_DAYS)
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise SurveyError(_("This survey link has expired.")) from None
    except signing.BadSignature:
        raise SurveyError(_("This survey link is not valid.")) from None
    request = SurveyRequest.objects.select_related("conversation").filter(pk=data.get("r")).first()
    if request is None:
        raise SurveyError(_("This survey link is not valid."))
    return request


def survey_url(request: SurveyRequest) -> str:
    path = reverse("survey", args=[survey_token(request)])
    return f"{settings.PUBLIC_URL or 'http://127.0.0.1:8000'}{path}"


def _nps_due(contact_id: int) -> bool:
    since = timezone.now() - timedelta(days=settings.KPI_NPS_INTERVAL_DAYS)
    return not SurveyRequest.objects.filter(
        contact_id=contact_id, survey="nps", created_at__gte=since
    ).exists()


def _publish(entry: Entry) -> None:
    payload = {"type": "entry.created", "entry": entry_payload(entry)}
    realtime.publish_on_commit(realtime.conversation_group(entry.conversation_id), payload)
    realtime.publish_on_commit(realtime.visitor_group(entry.contact_id), payload)
    signals.send_on_commit(
        signals.entry_created,
        entry_id=entry.pk,
        conversation_id=entry.conversation_id,
        kind=entry.kind,
        event=entry.event,
    )


def _create_request(conversation: Conversation, survey: str, channel: str) -> SurveyRequest | None:
    now = timezone.now()
    try:
        with transaction.atomic():
            return SurveyRequest.objects.create(
                conversation=conversation,
                contact_id=conversation.contact_id,
                survey=survey,
                channel=channel,
                created_at=now,
                expires_at=now + timedelta(days=settings.KPI_SURVEY_MAX_AGE_DAYS),
            )
    except IntegrityError:
        return None  # asked already (the task ran twice)


def should_survey(conversation: Conversation) -> bool:
    """Resolved, and the customer's last message was not automatic (auto-reply, bounce, spam)."""
    if not settings.KPI_SURVEYS_ENABLED:
        return False
    if conversation.status != Conversation.Status.RESOLVED:
        return False
    last = (
        Entry.objects.filter(conversation=conversation, kind=Entry.Kind.INBOUND)
        .order_by("-occurred_at", "-id")
        .values_list("is_auto", flat=True)
        .first()
    )
    return last is False


@transaction.atomic
def request_survey(conversation_id: int) -> list[SurveyRequest]:
    """Ask the customer of a resolved conversation; safe to run twice (asks once)."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or not should_survey(conversation):
        return []
    channel = conversation.last_inbound_channel or conversation.first_channel
    asked: list[SurveyRequest] = []
    if channel == "chat":
        surveys = ["csat"] + (["nps"] if _nps_due(conversation.contact_id) else [])
        for survey in surveys:
            request = _create_request(conversation, survey, channel)
            if request is None:
                continue
            low, high = (1, 5) if survey == "csat" else (0, 10)
            entry = events.event_survey_requested(
                conversation, survey, channel, {"request": request.pk, "low": low, "high": high}
            )
            _publish(entry)
            asked.append(request)
    elif channel == "email":
        request = _create_request(conversation, "csat", channel)
        if request is None:
            return []
        body = _(
            "Your request #%(number)s is resolved. How did we do? "
            "Tell us in one click (the link works once): %(url)s"
        ) % {"number": conversation.pk, "url": survey_url(request)}
        if _send(conversation, channel, body, request):
            asked.append(request)
    elif channel in TEXT_CHANNELS:
        request = _create_request(conversation, "csat", channel)
        if request is None:
            return []
        body = _("How did we do? Reply with a number from 1 (poor) to 5 (great).")
        if _send(conversation, channel, body, request):
            asked.append(request)
    return asked


def _send(conversation: Conversation, channel: str, body: str, request: SurveyRequest) -> bool:
    try:
        with transaction.atomic():
            core.reply(
                conversation,
                None,
                body,
                via=channel,
                is_auto=True,
                parameters={"survey_request": request.pk, "survey": request.survey},
            )
    except core.ActionError as exc:
        # No inbox to reach the customer there: no survey, and no retry either.
        log.info("survey for #%s not sent: %s", conversation.pk, exc)
        request.delete()
        return False
    return True


def awaits_text_answer(conversation_id: int) -> bool:
    return SurveyRequest.objects.filter(
        conversation_id=conversation_id,
        channel__in=TEXT_CHANNELS,
        answered_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists()


def awaiting_text_answer(conversation_ids: set[int]) -> set[int]:
    """Which of these conversations await a text answer to a survey (one query)."""
    if not conversation_ids:
        return set()
    return set(
        SurveyRequest.objects.filter(
            conversation_id__in=conversation_ids,
            channel__in=TEXT_CHANNELS,
            answered_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).values_list("conversation_id", flat=True)
    )


def parse_text_score(body: str) -> tuple[int, str] | None:
    """ "4", "4/5", "5 great, thanks" -> (score, comment); anything else -> None."""
    match = _SCORE_RE.match(body or "")
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "").strip()


@transaction.atomic
def handle_text_reply(entry_id: int) -> str:
    """Treat a text message as the answer to an open survey; returns what happened."""
    entry = Entry.objects.select_related("conversation").filter(pk=entry_id).first()
    if entry is None or entry.kind != Entry.Kind.INBOUND:
        return "ignored"
    request = (
        SurveyRequest.objects.select_for_update(no_key=True)
        .filter(
            conversation_id=entry.conversation_id,
            channel__in=TEXT_CHANNELS,
            answered_at__isnull=True,
            expires_at__gt=entry.occurred_at,
            created_at__lte=entry.occurred_at,
        )
        .order_by("-created_at")
        .first()
    )
    if request is None:
        return "ignored"
    parsed = parse_text_score(entry.body)
    if parsed is None:
        if request.clarified:
            return "ignored"  # asked once already: it is a normal message now
        request.clarified = True
        request.save(update_fields=["clarified"])
        _send(
            entry.conversation,
            entry.channel,
            _(
                "Sorry, we could not read a rating there. To rate us, reply with a single "
                "number from 1 (poor) to 5 (great); anything else reaches our team as usual."
            ),
            request,
        )
        return "clarified"
    score, comment = parsed
    record_survey_response(
        entry.conversation,
        survey=request.survey,
        score=score,
        comment=comment,
        channel=entry.channel,
        at=entry.occurred_at,
        request=request,
    )
    return "answered"
