"""WhatsApp Cloud API (Meta, direct): `object=whatsapp_business_account` webhooks.

Inbound: `entry[].changes[]` with `field=messages` (messages, statuses) and
`field=smb_message_echoes` (messages typed in the WhatsApp Business app, recorded
as our outbound). Items addressed to another phone_number_id are skipped.

Outbound: POST {graph}/{phone_number_id}/messages. Free-form replies only inside
the 24-hour customer service window; outside it only templates named in the
entry's parameters (`{"template": {"name", "language", "components"}}`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from django.utils.translation import gettext as _

from channels_in.adapters.meta import (
    WINDOW,
    MetaAdapter,
    as_dict,
    as_list,
    from_epoch,
    guess_extension,
    load_json,
    split_text,
)
from channels_in.base import (
    AttachmentRef,
    BadPayload,
    ChannelError,
    DeliveryUpdate,
    InboundMessage,
    ParsedItem,
    ThreadHints,
)
from channels_in.models import InboundEvent
from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.models import Attachment, Channel, Entry, IdentityKind

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
# WhatsApp status -> our delivery status ("played" is a voice note listened to).
STATUSES = {
    "sent": Entry.Delivery.SENT,
    "delivered": Entry.Delivery.DELIVERED,
    "read": Entry.Delivery.READ,
    "played": Entry.Delivery.READ,
    "failed": Entry.Delivery.FAILED,
}
WINDOW_CLOSED_CODE = 131047
TEXT_LIMIT = 4096


def _errors_text(errors: Any) -> str:
    parts = []
    for error in as_list(errors):
        title = error.get("title") or error.get("message") or ""
        detail = as_dict(error.get("error_data")).get("details")
        text = f"{title} ({error.get('code')})" if error.get("code") else str(title)
        parts.append(f"{text}: {detail}" if detail else text)
    return "; ".join(p for p in parts if p)


class WhatsAppCloudAdapter(MetaAdapter):
    kind = "whatsapp_cloud"
    channels = (Channel.WHATSAPP,)
    config_keys: ClassVar[tuple[str, ...]] = (
        "phone_number_id",
        "waba_id",
        "templates",
        "graph_url",
    )
    required_keys: ClassVar[tuple[str, ...]] = (
        "app_secret",
        "verify_token",
        "access_token",
        "phone_number_id",
    )
    meta_object = "whatsapp_business_account"
    account_key = "phone_number_id"

    # --- inbound ---------------------------------------------------------------
    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        data = load_json(bytes(event.body))
        if data.get("object") != self.meta_object:
            return []
        items: list[ParsedItem] = []
        for entry in as_list(data.get("entry")):
            for change in as_list(entry.get("changes")):
                value = as_dict(change.get("value"))
                if not self.is_ours(as_dict(value.get("metadata")).get("phone_number_id")):
                    continue
                field = change.get("field")
                if field == "messages":
                    items.extend(self.parse_messages(value))
                elif field == "smb_message_echoes":
                    items.extend(self.parse_echoes(value))
                # Other fields (account, template and quality updates): ignored.
        return items

    def parse_messages(self, value: dict[str, Any]) -> list[ParsedItem]:
        profiles = {
            str(c.get("wa_id") or c.get("user_id")): c for c in as_list(value.get("contacts"))
        }
        items: list[ParsedItem] = []
        for message in as_list(value.get("messages")):
            sender = str(message.get("from") or message.get("from_user_id") or "")
            profile = profiles.get(sender) or (
                next(iter(profiles.values())) if len(profiles) == 1 else {}
            )
            parsed = self.parse_message(message, sender, profile, direction="inbound")
            if parsed is not None:
                items.append(parsed)
        for status in as_list(value.get("statuses")):
            update = self.parse_status(status)
            if update is not None:
                items.append(update)
        return items

    def parse_echoes(self, value: dict[str, Any]) -> list[ParsedItem]:
        items: list[ParsedItem] = []
        for message in as_list(value.get("message_echoes")):
            customer = str(message.get("to") or message.get("to_user_id") or "")
            parsed = self.parse_message(message, customer, {}, direction="outbound")
            if parsed is not None:
                items.append(parsed)
        return items

    def identities(self, wa_id: str, profile: dict[str, Any]) -> list[IdentityRef]:
        """The phone identity (shared with SMS/voice) first, then the BSUID if any."""
        refs: list[IdentityRef] = []
        candidates = [wa_id, str(profile.get("wa_id") or ""), str(profile.get("user_id") or "")]
        for value in candidates:
            if not value:
                continue
            try:
                ref = normalize(IdentityKind.WHATSAPP, value)
            except InvalidIdentity:
                continue
            if ref not in refs:
                refs.append(ref)
        if not refs:
            raise BadPayload("a WhatsApp message without a sender")
        return refs

    def parse_message(
        self, message: dict[str, Any], wa_id: str, profile: dict[str, Any], *, direction: str
    ) -> InboundMessage | None:
        wamid = str(message.get("id") or "")
        if not wamid or not (wa_id or profile):
            return None
        kind = str(message.get("type") or "")
        obj = as_dict(message.get(kind))
        parameters: dict[str, Any] = {"wa_id": wa_id, "type": kind}
        if profile.get("user_id"):
            parameters["user_id"] = profile["user_id"]
        attachments: list[AttachmentRef] = []
        is_auto = False
        body = ""
        if kind == "text":
            body = str(obj.get("body") or "")
        elif kind in MEDIA_TYPES:
            body = str(obj.get("caption") or "")
            attachments.append(self.media_ref(kind, obj))
            parameters["media"] = {
                k: obj[k] for k in ("id", "mime_type", "sha256", "voice", "animated") if k in obj
            }
        elif kind == "location":
            body = self.location_text(obj)
            parameters["location"] = obj
        elif kind == "contacts":
            cards = as_list(message.get("contacts"))
            body = self.contacts_text(cards)
            parameters["contacts"] = cards
        elif kind == "interactive":
            reply_type = str(obj.get("type") or "")
            reply = as_dict(obj.get(reply_type))
            body = str(reply.get("title") or reply.get("body") or "")
            parameters["reply"] = {"type": reply_type, **reply}
        elif kind == "button":
            body = str(obj.get("text") or "")
            parameters["button"] = {"payload": obj.get("payload"), "text": obj.get("text")}
        elif kind == "reaction":
            # A reaction is recorded as a small automatic entry: it shows on the
            # timeline without making the conversation wait for an answer.
            emoji = str(obj.get("emoji") or "")
            body = _("Reacted %(emoji)s") % {"emoji": emoji} if emoji else _("Removed a reaction")
            parameters["reaction"] = {"message_id": obj.get("message_id"), "emoji": emoji}
            is_auto = True
        elif kind == "system":
            return None  # number changes etc.: kept in the raw event only
        elif kind == "edit":
            edited = as_dict(obj.get("message"))
            body = str(as_dict(edited.get("text")).get("body") or "")
            parameters["edited"] = obj.get("original_message_id")
        elif kind == "revoke":
            body = _("The customer deleted a message.")
            parameters["revoked"] = obj.get("original_message_id")
            is_auto = True
        else:
            # "unsupported", "order" and types we do not know yet: kept and flagged.
            parameters["unsupported"] = True
            parameters["errors"] = as_list(message.get("errors"))
            body = _("(A %(type)s message this help desk cannot show.)") % {
                "type": kind or "unknown"
            }
        if message.get("referral"):
            parameters["referral"] = message["referral"]
        context = as_dict(message.get("context"))
        replies_to = []
        if context.get("id"):
            replies_to.append(str(context["id"]))
            parameters["reply_to"] = str(context["id"])
        if context.get("forwarded") or context.get("frequently_forwarded"):
            parameters["forwarded"] = True
        # Reactions, edits and deletions belong with the message they are about.
        about = obj.get("message_id") if kind == "reaction" else obj.get("original_message_id")
        if kind in ("reaction", "edit", "revoke") and about:
            replies_to.append(str(about))
        return InboundMessage(
            inbox_id=self.inbox.pk,
            channel=Channel.WHATSAPP,
            identities=self.identities(wa_id, profile),
            contact_name=str(as_dict(profile.get("profile")).get("name") or ""),
            body=body,
            provider_id=wamid,
            occurred_at=from_epoch(message.get("timestamp")),
            attachments=attachments,
            thread=ThreadHints(replies_to=replies_to),
            is_auto=is_auto,
            direction=direction,
            parameters=parameters,
        )

    def media_ref(self, kind: str, obj: dict[str, Any]) -> AttachmentRef:
        content_type = str(obj.get("mime_type") or "application/octet-stream")
        filename = str(obj.get("filename") or "")
        if not filename:
            filename = f"{kind}-{obj.get('id', 'media')}{guess_extension(content_type)}"
        # The media id, resolved to a short-lived URL by download_media.
        return AttachmentRef(filename=filename[:200], content_type=content_type, url=str(obj["id"]))

    @staticmethod
    def location_text(obj: dict[str, Any]) -> str:
        lines = [str(obj[k]) for k in ("name", "address") if obj.get(k)]
        lines.append(
            _("Location: %(lat)s, %(lon)s")
            % {"lat": obj.get("latitude"), "lon": obj.get("longitude")}
        )
        return "\n".join(lines)

    @staticmethod
    def contacts_text(cards: list[dict[str, Any]]) -> str:
        lines = []
        for card in cards:
            name = as_dict(card.get("name")).get("formatted_name") or ""
            phones = [str(p.get("phone")) for p in as_list(card.get("phones")) if p.get("phone")]
            emails = [str(e.get("email")) for e in as_list(card.get("emails")) if e.get("email")]
            lines.append(
                _("Contact: %(card)s") % {"card": ", ".join([str(name), *phones, *emails])}
            )
        return "\n".join(lines)

    def parse_status(self, status: dict[str, Any]) -> DeliveryUpdate | None:
        mapped = STATUSES.get(str(status.get("status")))
        if not mapped or not status.get("id"):
            return None
        return DeliveryUpdate(
            inbox_id=self.inbox.pk,
            provider_id=str(status["id"]),
            status=mapped,
            error=_errors_text(status.get("errors")) if mapped == Entry.Delivery.FAILED else "",
            occurred_at=from_epoch(status.get("timestamp")),
        )

    # --- outbound --------------------------------------------------------------
    def unavailable_reason(self, entry_channel: str, contact_id: int) -> str:
        last = self.last_inbound_at(contact_id, Channel.WHATSAPP)
        if last is None or datetime.now(tz=UTC) - last > WINDOW:
            return _(
                "The customer has not written on WhatsApp in the last 24 hours: "
                "only an approved template can be sent (WhatsApp error %(code)s)."
            ) % {"code": WINDOW_CLOSED_CODE}
        return ""

    def recipient(self, entry: Entry) -> str:
        wa_id = self.latest_parameter(entry.contact_id, Channel.WHATSAPP, "wa_id")
        if wa_id:
            return wa_id
        identities = dict(
            entry.contact.identities.filter(
                kind__in=(IdentityKind.PHONE, IdentityKind.WHATSAPP)
            ).values_list("kind", "value")
        )
        if identities.get(IdentityKind.PHONE):
            return identities[IdentityKind.PHONE].lstrip("+")
        if identities.get(IdentityKind.WHATSAPP):
            return identities[IdentityKind.WHATSAPP]
        raise ChannelError(_("The contact has no WhatsApp number."), permanent=True)

    def send(self, entry: Entry) -> str:
        phone_number_id = self.account_id()
        if not phone_number_id:
            raise ChannelError(_("This inbox has no phone_number_id."), permanent=True)
        to = self.recipient(entry)
        path = f"{phone_number_id}/messages"
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        template = as_dict(entry.parameters.get("template"))
        if template:
            return self.message_id(
                self.graph_post(path, json_body={**base, **self.template(template)})
            )
        reason = self.unavailable_reason(Channel.WHATSAPP, entry.contact_id)
        if reason:
            raise ChannelError(reason, permanent=True)
        message_ids: list[str] = []
        attachments = list(entry.attachments.all())
        caption_used = False
        if entry.body and not (attachments and self.takes_caption(attachments[0])):
            for text in split_text(entry.body, TEXT_LIMIT):
                answer = self.graph_post(
                    path, json_body={**base, "type": "text", "text": {"body": text}}
                )
                message_ids.append(self.message_id(answer))
            caption_used = True
        for attachment in attachments:
            kind = self.media_kind(attachment.content_type)
            media: dict[str, Any] = {"id": self.upload(attachment)}
            if entry.body and not caption_used and self.takes_caption(attachment):
                media["caption"] = entry.body
                caption_used = True
            if kind == "document":
                media["filename"] = attachment.filename
            answer = self.graph_post(path, json_body={**base, "type": kind, kind: media})
            message_ids.append(self.message_id(answer))
        if not message_ids:
            raise ChannelError(_("Nothing to send."), permanent=True)
        return message_ids[0]

    def template(self, template: dict[str, Any]) -> dict[str, Any]:
        name = str(template.get("name") or "")
        allowed = self.inbox.setting("templates")
        if isinstance(allowed, str):
            allowed = [t.strip() for t in allowed.split(",") if t.strip()]
        if not name or (allowed and name not in allowed):
            raise ChannelError(
                _("Unknown WhatsApp template %(name)r.") % {"name": name}, permanent=True
            )
        language = template.get("language") or "en_US"
        body: dict[str, Any] = {"name": name, "language": {"code": language}}
        if template.get("components"):
            body["components"] = template["components"]
        return {"type": "template", "template": body}

    @staticmethod
    def media_kind(content_type: str) -> str:
        main = content_type.split("/")[0]
        if content_type == "image/webp":
            return "sticker"
        return main if main in ("image", "audio", "video") else "document"

    def takes_caption(self, attachment: Attachment) -> bool:
        return self.media_kind(attachment.content_type) in ("image", "video", "document")

    def upload(self, attachment: Attachment) -> str:
        """Upload a file to WhatsApp's media store; return its media id."""
        filename, content, content_type = self.read_attachment(attachment)
        answer = self.graph_post(
            f"{self.account_id()}/media",
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (filename, content, content_type)},
        )
        media_id = str(answer.get("id") or "")
        if not media_id:
            raise ChannelError(_("WhatsApp returned no media id for the upload."))
        return media_id

    @staticmethod
    def message_id(answer: dict[str, Any]) -> str:
        messages = as_list(answer.get("messages"))
        if not messages or not messages[0].get("id"):
            raise ChannelError(_("WhatsApp returned no message id."))
        return str(messages[0]["id"])

    def download_media(self, attachment: Attachment) -> tuple[bytes, str]:
        """Media id -> short-lived URL (Graph) -> bytes, both with the access token."""
        info = self.download(self.graph_url(attachment.source_url))
        try:
            data = as_dict(info.json())
        except ValueError as exc:
            raise ChannelError("media lookup answered non-JSON") from exc
        url = str(data.get("url") or "")
        if not url:
            raise ChannelError("media lookup returned no url", permanent=True)
        response = self.download(url)
        return response.content, str(data.get("mime_type") or "")
