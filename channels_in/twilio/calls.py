"""Calls we place: click to call (Twilio rings the agent, then the customer) and
callback requests. Both land on the conversation's timeline as one call entry."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import Dial, VoiceResponse

from channels_in.base import ChannelError
from channels_in.models import Inbox
from channels_in.registry import adapter_for
from channels_in.twilio import client as twilio_client
from channels_in.twilio import voice
from conversations import actions as core
from conversations.identities import InvalidIdentity, normalize_phone
from conversations.inbound import CallUpdate
from conversations.models import Conversation, Entry, IdentityKind
from helpdesk.models import Agent

CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def customer_number(conversation: Conversation) -> str:
    number = (
        conversation.contact.identities.filter(kind=IdentityKind.PHONE)
        .values_list("value", flat=True)
        .first()
    )
    if not number:
        raise core.ActionError(_("This customer has no phone number to call."))
    return str(number)


def inbox_for(conversation: Conversation) -> Inbox:
    """The Twilio inbox the customer knows us by: the last one they used, else any."""
    last = (
        Entry.objects.filter(contact_id=conversation.contact_id, inbox__kind="twilio")
        .exclude(inbox__is_active=False)
        .order_by("-occurred_at", "-id")
        .values_list("inbox_id", flat=True)
        .first()
    )
    inbox = Inbox.objects.filter(pk=last).first() if last else None
    if inbox is None and conversation.inbox_id:
        inbox = Inbox.objects.filter(
            pk=conversation.inbox_id, kind="twilio", is_active=True
        ).first()
    if inbox is None:
        inbox = Inbox.objects.filter(kind="twilio", is_active=True).order_by("pk").first()
    if inbox is None or not inbox.setting("phone_number"):
        raise core.ActionError(_("There is no Twilio inbox with a phone number to call from."))
    return inbox


def _absolute(inbox: Inbox, name: str) -> str | None:
    public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    return public + voice.hook_path(inbox, name) if public else None


def start_call(conversation: Conversation, agent: Agent) -> Entry:
    """Click to call: Twilio calls the agent's phone, then bridges to the customer.

    The call entry is written first (so callbacks find it even before Twilio's
    answer), then Twilio is asked; a refusal marks the entry failed and raises
    ActionError with the reason. Status callbacks need PUBLIC_URL.
    """
    try:
        agent_number = normalize_phone(agent.phone or "")
    except InvalidIdentity:
        raise core.ActionError(_("Add your phone number to your profile to place calls.")) from None
    number = customer_number(conversation)
    inbox = inbox_for(conversation)
    caller_id = normalize_phone(str(inbox.setting("phone_number")))
    entry = core.record_outbound_call(
        conversation,
        agent,
        inbox.pk,
        {"to": number, "from": caller_id, "agent_number": agent_number},
    )
    status_url = _absolute(inbox, "call_status")
    dial_status_url = _absolute(inbox, "dial_status")
    twiml = VoiceResponse()
    dial = Dial(caller_id=caller_id, answer_on_bridge=True)
    if dial_status_url:
        dial.number(
            number,
            status_callback=dial_status_url,
            status_callback_event="answered completed",
            status_callback_method="POST",
        )
    else:
        dial.number(number)
    twiml.append(dial)
    extra = (
        {"status_callback": status_url, "status_callback_event": CALL_EVENTS} if status_url else {}
    )
    try:
        client = adapter_for(inbox).client()  # type: ignore[attr-defined]
        call = client.calls.create(to=agent_number, from_=caller_id, twiml=str(twiml), **extra)
    except (TwilioRestException, ChannelError) as exc:
        error = (
            twilio_client.channel_error(exc) if isinstance(exc, TwilioRestException) else exc
        ).message
        core.update_call(
            CallUpdate(
                inbox_id=inbox.pk,
                call_sid="",
                entry_public_id=entry.public_id,
                changes={"status": "failed", "error": error},
            )
        )
        raise core.ActionError(
            _("Twilio could not place the call: %(error)s") % {"error": error}
        ) from exc
    updated = core.update_call(
        CallUpdate(
            inbox_id=inbox.pk,
            call_sid=str(call.sid),
            entry_public_id=entry.public_id,
            changes={"status": str(call.status or "queued")},
        )
    )
    return updated or entry


def request_callback(
    conversation: Conversation, actor: Agent | None = None, *, source: str = "widget"
) -> Entry:
    """The customer asks to be called back (widget, or an agent noting a missed call)."""
    return core.request_callback(conversation, actor, customer_number(conversation), source)
