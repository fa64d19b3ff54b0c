"""Twilio: SMS, MMS and WhatsApp messages, their delivery statuses, and voice calls.

Webhooks (form POSTs signed with X-Twilio-Signature) under /hooks/twilio/<slug>/:
    messages             inbound SMS / MMS / WhatsApp            -> InboundMessage
    status               outbound message status callbacks        -> DeliveryUpdate
    voice, voice/...     the call flow; answered with TwiML       -> CallUpdate
    call-status          the call's status callback               -> CallUpdate
    dial-status          status of the legs we <Dial>             -> CallUpdate
Each delivery is stored once under its own id (MessageSid, MessageSid:MessageStatus,
CallSid:<callback>:<status or recording/transcription sid>), so Twilio's retries
never double anything.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from channels_in.base import (
    AttachmentRef,
    BadPayload,
    CallUpdate,
    ChannelAdapter,
    ChannelError,
    DeliveryUpdate,
    InboundMessage,
    ParsedItem,
    SignatureError,
    ThreadHints,
)
from channels_in.models import InboundEvent
from channels_in.twilio import client as twilio_client
from channels_in.twilio import errors, voice
from channels_in.twilio import tasks as twilio_tasks
from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.models import Channel, Entry, IdentityKind
from helpdesk.models import Team
from helpdesk.queue import enqueue_on_commit

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_WINDOW = timedelta(hours=24)

# Twilio MessageStatus -> our delivery status (Entry.Delivery); others are ignored.
MESSAGE_STATUSES: dict[str, str] = {
    "accepted": Entry.Delivery.QUEUED,
    "scheduled": Entry.Delivery.QUEUED,
    "queued": Entry.Delivery.QUEUED,
    "sending": Entry.Delivery.SENDING,
    "sent": Entry.Delivery.SENT,
    "delivered": Entry.Delivery.DELIVERED,
    "partially_delivered": Entry.Delivery.DELIVERED,
    "read": Entry.Delivery.READ,
    "undelivered": Entry.Delivery.FAILED,
    "failed": Entry.Delivery.FAILED,
    "canceled": Entry.Delivery.FAILED,
}

# URL topic -> the callback name in the event id (CallSid:<name>:<detail>).
VOICE_TOPICS = {
    "voice": "voice",
    "voice-menu": "menu",
    "voice-dial": "dial",
    "voice-queue": "queue",
    "voice-wait": "wait",
    "voice-voicemail": "voicemail",
    "voice-recording": "recording",
    "voice-transcription": "transcription",
    "call-status": "status",
    "dial-status": "dial-status",
}
TOPICS = {"messages", "status", *VOICE_TOPICS}


def signed_url(request: HttpRequest) -> str:
    """The URL Twilio called and signed: PUBLIC_URL + path (+ query) behind a proxy."""
    public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    if public:
        return public + request.get_full_path()
    return request.build_absolute_uri()


def form(event: InboundEvent) -> QueryDict:
    try:
        return QueryDict(bytes(event.body).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadPayload(f"the stored body is not UTF-8 form data: {exc}") from exc


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _media_filename(url: str, content_type: str, index: int) -> str:
    stem = url.rstrip("/").rsplit("/", 1)[-1] or f"media-{index}"
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return f"{stem}{extension}"


class TwilioAdapter(ChannelAdapter):
    kind = "twilio"
    channels = (Channel.SMS, Channel.WHATSAPP, Channel.PHONE)
    config_keys: ClassVar[tuple[str, ...]] = (
        "account_sid",
        "phone_number",
        "whatsapp_number",
        "menu",  # digit -> team name: {"1": "Support"} or "1=Support,2=Sales"
        "menu_prompt",
        "voicemail_after_seconds",
        "greeting",
        "voicemail_greeting",
        "hold_music_url",
        "language",  # e.g. "hr-HR": <Say> language and our translations
        "whatsapp_templates",  # template name -> approved content SID (HX...)
    )
    secret_keys: ClassVar[tuple[str, ...]] = ("auth_token", "auth_token_secondary")
    required_keys: ClassVar[tuple[str, ...]] = ("account_sid", "auth_token")

    # --- inbound ---------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        tokens = [
            token
            for token in (
                self.inbox.get_secret("auth_token"),
                self.inbox.get_secret("auth_token_secondary"),
            )
            if token
        ]
        if not tokens:
            raise SignatureError("this inbox has no auth_token configured")  # fail closed
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        url = signed_url(request)
        params = request.POST
        # Either token during a rotation: the secondary one is promoted to primary.
        if not any(RequestValidator(token).validate(url, params, signature) for token in tokens):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match {url} and its parameters")
        account = params.get("AccountSid", "")
        expected = str(self.inbox.setting("account_sid") or "")
        if account and expected and account != expected:
            raise SignatureError("the request is for another Twilio account")

    def identify(self, request: HttpRequest, topic: str) -> str:
        params = request.POST
        if topic not in TOPICS:
            raise BadPayload(f"unknown Twilio webhook {topic!r}")
        if topic == "messages":
            return self._required(params, "MessageSid")
        if topic == "status":
            sid = self._required(params, "MessageSid")
            return f"{sid}:{self._required(params, 'MessageStatus')}"
        sid = self._required(params, "CallSid")
        name = VOICE_TOPICS[topic]
        detail = {
            "voice": "",
            "menu": params.get("Digits", ""),
            "dial": params.get("DialCallStatus", ""),
            "queue": params.get("QueueResult", ""),
            "wait": params.get("QueueTime", ""),
            "voicemail": params.get("RecordingSid", ""),
            "recording": f"{params.get('RecordingSid', '')}:{params.get('RecordingStatus', '')}",
            "transcription": (
                f"{params.get('TranscriptionSid', '')}:{params.get('TranscriptionStatus', '')}"
            ),
            "status": f"{params.get('CallStatus', '')}:{params.get('SequenceNumber', '')}",
            "dial-status": params.get("CallStatus", ""),
        }[name]
        return f"{sid}:{name}:{detail}" if detail else f"{sid}:{name}"

    @staticmethod
    def _required(params: QueryDict, key: str) -> str:
        value = params.get(key, "").strip()
        if not value:
            raise BadPayload(f"missing {key}")
        return value

    def acknowledge(self, request: HttpRequest, event: InboundEvent | None) -> HttpResponse:
        """Answer Twilio at once; voice webhooks get the next TwiML of the call."""
        params = request.POST
        topic = event.topic if event is not None else ""
        response: VoiceResponse
        if topic == "voice":
            response = voice.answer(self.inbox)
        elif topic == "voice-menu":
            response = voice.menu_choice(self.inbox, params.get("Digits", ""))
        elif topic == "voice-dial":
            response = voice.after_dial(self.inbox, params.get("DialCallStatus", ""))
        elif topic == "voice-queue":
            response = voice.after_queue(self.inbox, params.get("QueueResult", ""))
        elif topic == "voice-wait":
            response = voice.hold(self.inbox, _int(params.get("QueueTime")) or 0)
        elif topic == "voice-voicemail":
            response = voice.after_voicemail(self.inbox)
        else:
            response = VoiceResponse()  # an empty <Response/>: no auto-reply
        return HttpResponse(str(response), content_type="text/xml; charset=utf-8")

    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        params = form(event)
        if event.topic == "messages":
            return [self._message(params)]
        if event.topic == "status":
            return self._status(params)
        if event.topic in VOICE_TOPICS:
            return self._call(event.topic, params)
        raise BadPayload(f"unknown Twilio webhook {event.topic!r}")

    def _message(self, params: QueryDict) -> InboundMessage:
        sid = self._required(params, "MessageSid")
        sender = self._required(params, "From")
        is_whatsapp = sender.lower().startswith("whatsapp:")
        try:
            identity = normalize(
                IdentityKind.WHATSAPP if is_whatsapp else IdentityKind.PHONE, sender
            )
        except InvalidIdentity as exc:
            raise BadPayload(f"'From': {exc}") from exc
        attachments = []
        for index in range(_int(params.get("NumMedia")) or 0):
            url = params.get(f"MediaUrl{index}", "")
            if not url:
                continue
            content_type = params.get(f"MediaContentType{index}", "")
            attachments.append(
                AttachmentRef(
                    filename=_media_filename(url, content_type, index),
                    content_type=content_type,
                    url=url,
                )
            )
        body = params.get("Body", "")
        parameters: dict[str, Any] = {"to": params.get("To", "")}
        for key, name in (
            ("ProfileName", "profile_name"),
            ("WaId", "wa_id"),
            ("ButtonText", "button_text"),
            ("ButtonPayload", "button_payload"),
            ("MessageType", "message_type"),
            ("NumSegments", "segments"),
            ("ReferralCtwaClid", "referral_ctwa_clid"),
        ):
            if params.get(key):
                parameters[name] = params[key]
        if params.get("Latitude") and params.get("Longitude"):
            location: dict[str, str] = {
                "latitude": params.get("Latitude", ""),
                "longitude": params.get("Longitude", ""),
                "address": params.get("Address", ""),
                "label": params.get("Label", ""),
            }
            parameters["location"] = location
            if not body:
                place = ", ".join(p for p in (location["label"], location["address"]) if p)
                coordinates = f"{location['latitude']}, {location['longitude']}"
                body = _("Location: %(place)s") % {
                    "place": f"{place} ({coordinates})" if place else coordinates
                }
        if not body and params.get("ButtonText"):
            body = params.get("ButtonText", "")
        replied = params.get("OriginalRepliedMessageSid", "")
        if attachments:
            # After the message is recorded (on commit), a task fetches the files.
            enqueue_on_commit(twilio_tasks.FETCH_MEDIA_TASK, self.inbox.pk, sid)
        return InboundMessage(
            inbox_id=self.inbox.pk,
            channel=Channel.WHATSAPP if is_whatsapp else Channel.SMS,
            identities=[identity],
            team_id=self.inbox.team_id,
            body=body,
            provider_id=sid,
            contact_name=params.get("ProfileName", "").strip(),
            attachments=attachments,
            thread=ThreadHints(replies_to=[replied] if replied else []),
            parameters=parameters,
        )

    def _status(self, params: QueryDict) -> list[ParsedItem]:
        status = MESSAGE_STATUSES.get(params.get("MessageStatus", ""))
        if status is None:
            return []  # receiving / received: about inbound messages, nothing to move
        error = ""
        if status == Entry.Delivery.FAILED:
            error = errors.reason(params.get("ErrorCode"), params.get("ErrorMessage", ""))
        return [
            DeliveryUpdate(
                inbox_id=self.inbox.pk,
                provider_id=self._required(params, "MessageSid"),
                status=status,
                error=error,
            )
        ]

    def _caller(self, params: QueryDict, call_sid: str) -> list[IdentityRef]:
        """Who called: the request's From on an inbound call, else the first webhook's."""
        direction = params.get("Direction", "")
        sender = params.get("From", "")
        if not sender or direction not in ("", "inbound"):
            first = InboundEvent.objects.filter(
                inbox=self.inbox, provider_event_id=f"{call_sid}:voice"
            ).first()
            if first is None:
                return []
            first_params = form(first)
            if first_params.get("Direction", "inbound") != "inbound":
                return []
            sender = first_params.get("From", "")
        try:
            return [normalize(IdentityKind.PHONE, sender)]
        except InvalidIdentity:
            return []  # anonymous or withheld numbers cannot be a contact

    def _call(self, topic: str, params: QueryDict) -> list[ParsedItem]:
        name = VOICE_TOPICS[topic]
        call_sid = self._required(params, "CallSid")
        changes: dict[str, Any] = {}
        if name == "wait":
            return []  # hold music polls: nothing to record
        if name == "dial-status":
            # A leg we dialed: an agent's phone (inbound call) or the customer's
            # (click to call). Its parent is the call on the timeline.
            call_sid = self._required(params, "ParentCallSid")
            if params.get("CallStatus") in ("in-progress", "answered"):
                agent = voice.agent_by_number(params.get("To", ""))
                changes = {
                    "answered": True,
                    "answered_by": agent.display_name if agent else "",
                    "answered_number": params.get("To", ""),
                }
            else:
                changes = {"dialed_status": params.get("CallStatus", "")}
        elif name == "voice":
            changes = {
                "status": params.get("CallStatus", ""),
                "from": params.get("From", ""),
                "to": params.get("To", ""),
            }
        elif name == "menu":
            team = voice.team_for_digit(self.inbox, params.get("Digits", ""))
            changes = {"digits": params.get("Digits", ""), "team": team.name if team else ""}
        elif name == "dial":
            dial_status = params.get("DialCallStatus", "")
            changes = {
                "dial_status": dial_status,
                "answered": dial_status in ("completed", "answered"),
            }
        elif name == "queue":
            result = params.get("QueueResult", "")
            changes = {
                "queue_result": result,
                "queue_time": _int(params.get("QueueTime")),
                "answered": result == "bridged",
            }
        elif name in ("voicemail", "recording"):
            status = params.get("RecordingStatus", "completed")
            if status != "completed":
                changes = {"recording_status": status}
            else:
                changes = {
                    "voicemail": True,
                    "recording_sid": params.get("RecordingSid", ""),
                    "recording_url": params.get("RecordingUrl", ""),
                    "recording_duration": _int(params.get("RecordingDuration")),
                    "recording_status": status,
                }
        elif name == "transcription":
            status = params.get("TranscriptionStatus", "")
            changes = {"transcription_status": status}
            if status == "completed":
                changes["transcript"] = params.get("TranscriptionText", "").strip()
        elif name == "status":
            changes = {
                "status": params.get("CallStatus", ""),
                "duration": _int(params.get("CallDuration")),
                "answered_by_machine": params.get("AnsweredBy", ""),
            }
        identities = self._caller(params, call_sid) if name != "dial-status" else []
        if not identities and not self._call_known(call_sid):
            if name != "dial-status" and self._is_inbound(params, call_sid):
                return []  # an anonymous or withheld number: no contact to put it on
            # A callback for a call whose entry isn't written yet (we placed it and
            # Twilio was quicker than our commit): retried with backoff.
            raise ChannelError(f"call {call_sid} is not on a timeline yet")
        return [
            CallUpdate(
                inbox_id=self.inbox.pk,
                call_sid=call_sid,
                changes=changes,
                identities=identities,
                contact_name=params.get("CallerName", "").strip(),
                team_id=self.inbox.team_id,
            )
        ]

    def _is_inbound(self, params: QueryDict, call_sid: str) -> bool:
        if params.get("Direction"):
            return params.get("Direction") == "inbound"
        return InboundEvent.objects.filter(
            inbox=self.inbox, provider_event_id=f"{call_sid}:voice"
        ).exists()

    def _call_known(self, call_sid: str) -> bool:
        return Entry.objects.filter(
            inbox=self.inbox, channel="phone", provider_id=call_sid
        ).exists()

    # --- outbound --------------------------------------------------------------
    def client(self) -> Any:
        account = str(self.inbox.setting("account_sid") or "")
        token = self.inbox.get_secret("auth_token")
        if not account or not token:
            raise ChannelError(
                _("This Twilio inbox has no account SID or auth token."), permanent=True
            )
        return twilio_client.rest_client(account, token)

    def templates(self) -> dict[str, str]:
        """Approved WhatsApp templates, name -> content SID (a mapping, JSON or "a=HX..,b=HX..")."""
        raw = self.inbox.setting("whatsapp_templates") or {}
        if isinstance(raw, str):
            text = raw.strip()
            try:
                raw = (
                    json.loads(text)
                    if text.startswith("{")
                    else dict(part.split("=", 1) for part in text.split(",") if "=" in part)
                )
            except ValueError:
                return {}
        if not isinstance(raw, dict):
            return {}
        return {str(k).strip(): str(v).strip() for k, v in raw.items()}

    def unavailable_reason(self, entry_channel: str, contact_id: int) -> str:
        if entry_channel == Channel.PHONE:
            return ""
        if entry_channel == Channel.SMS and not self.inbox.setting("phone_number"):
            return _("This Twilio inbox has no phone number for SMS.")
        if entry_channel != Channel.WHATSAPP:
            return ""
        if not self.inbox.setting("whatsapp_number"):
            return _("This Twilio inbox has no WhatsApp number.")
        last = (
            Entry.objects.filter(
                contact_id=contact_id,
                inbox=self.inbox,
                channel=Channel.WHATSAPP,
                kind=Entry.Kind.INBOUND,
            )
            .order_by("-occurred_at")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if last is not None and timezone.now() - last < WHATSAPP_WINDOW:
            return ""
        names = ", ".join(sorted(self.templates())) or _("none configured")
        return _(
            "WhatsApp allows free-form replies only within 24 hours of the customer's last "
            "message; outside that window only an approved template can be sent "
            "(templates: %(names)s)."
        ) % {"names": names}

    def send(self, entry: Entry) -> str:
        """Send through messages.create; returns the MessageSid, raises ChannelError."""
        if entry.channel == Channel.PHONE:
            raise ChannelError(_("Phone replies are calls: use click to call."), permanent=True)
        if entry.channel not in (Channel.SMS, Channel.WHATSAPP):
            raise ChannelError(f"Twilio cannot send {entry.channel!r} messages", permanent=True)
        number = (
            entry.contact.identities.filter(kind=IdentityKind.PHONE)
            .values_list("value", flat=True)
            .first()
        )
        if not number:
            raise ChannelError(_("The customer has no phone number."), permanent=True)
        kwargs: dict[str, Any] = {}
        if entry.channel == Channel.WHATSAPP:
            sender = str(self.inbox.setting("whatsapp_number") or "")
            if not sender:
                raise ChannelError(_("This Twilio inbox has no WhatsApp number."), permanent=True)
            sender, number = f"whatsapp:{sender.removeprefix('whatsapp:')}", f"whatsapp:{number}"
            template = str(entry.parameters.get("template") or "")
            if template:
                content_sid = self.templates().get(template)
                if not content_sid:
                    raise ChannelError(
                        _("There is no WhatsApp template named %(name)s in this inbox.")
                        % {"name": template},
                        permanent=True,
                    )
                kwargs["content_sid"] = content_sid
                variables = entry.parameters.get("template_variables") or {}
                if variables:
                    kwargs["content_variables"] = json.dumps(variables)
            else:
                reason = self.unavailable_reason(Channel.WHATSAPP, entry.contact_id)
                if reason:
                    raise ChannelError(reason, permanent=True)
        else:
            sender = str(self.inbox.setting("phone_number") or "")
            if not sender:
                raise ChannelError(
                    _("This Twilio inbox has no phone number for SMS."), permanent=True
                )
        if "content_sid" not in kwargs and entry.body:
            kwargs["body"] = entry.body
        public = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
        media = [a.file.url for a in entry.attachments.all() if a.file]
        if media:
            if not public:
                raise ChannelError(
                    _("Sending files through Twilio needs PUBLIC_URL, where Twilio fetches them."),
                    permanent=True,
                )
            kwargs["media_url"] = [public + url for url in media]
        if public:
            kwargs["status_callback"] = public + voice.hook_path(self.inbox, "status")
        try:
            message = self.client().messages.create(to=number, from_=sender, **kwargs)
        except TwilioRestException as exc:
            raise twilio_client.channel_error(exc) from exc
        return str(message.sid)

    # --- operator --------------------------------------------------------------
    def check_settings(self) -> list[str]:
        problems = super().check_settings()
        if not self.inbox.setting("phone_number") and not self.inbox.setting("whatsapp_number"):
            problems.append(
                f"inbox {self.inbox.slug!r} has neither 'phone_number' nor 'whatsapp_number'"
            )
        unknown = sorted(
            name
            for name in voice.menu(self.inbox).values()
            if not Team.objects.filter(name__iexact=name).exists()
        )
        if unknown:
            problems.append(
                f"inbox {self.inbox.slug!r} has menu entries for unknown teams: "
                + ", ".join(unknown)
            )
        return problems

    def webhook_paths(self) -> list[str]:
        return [
            reverse(f"channels_in:twilio_{name}", args=[self.inbox.slug])
            for name in ("messages", "status", "voice", "call_status")
        ]
