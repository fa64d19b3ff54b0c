"""The e-mail inbox kind: raw mail in (IMAP, anymail, ingest_email), mail out via Django.

Config keys: address, imap_host, imap_port, imap_user, imap_folder, esp; secret
imap_password. Inbound events hold the raw RFC 5322 bytes (topic "mail") or an
anymail tracking event as JSON (topic "tracking").
"""

from __future__ import annotations

import json
from typing import ClassVar

from django.conf import settings

from channels_in.base import (
    ChannelAdapter,
    ChannelError,
    DeliveryUpdate,
    InboundMessage,
    ParsedItem,
    ThreadHints,
)
from channels_in.email import parser, tokens
from channels_in.models import InboundEvent
from conversations.identities import InvalidIdentity, normalize
from conversations.models import Channel, Conversation, Entry, IdentityKind

TOPIC_MAIL = "mail"
TOPIC_TRACKING = "tracking"

# anymail tracking event types -> our delivery statuses (others are ignored).
TRACKING_STATUSES = {
    "sent": Entry.Delivery.SENT,
    "delivered": Entry.Delivery.DELIVERED,
    "opened": Entry.Delivery.READ,
    "clicked": Entry.Delivery.READ,
    "bounced": Entry.Delivery.FAILED,
    "rejected": Entry.Delivery.FAILED,
    "failed": Entry.Delivery.FAILED,
}


def _is_participant(conversation_number: int, address: str) -> bool:
    """The sender is already an identity of someone on that conversation."""
    return (
        Conversation.objects.filter(
            pk=conversation_number,
            contact__identities__kind=IdentityKind.EMAIL,
            contact__identities__value=address,
        ).exists()
        or Entry.objects.filter(
            conversation_id=conversation_number,
            contact__identities__kind=IdentityKind.EMAIL,
            contact__identities__value=address,
        ).exists()
    )


class EmailAdapter(ChannelAdapter):
    kind = "email"
    channels = (Channel.EMAIL,)
    config_keys: ClassVar[tuple[str, ...]] = (
        "address",
        "imap_host",
        "imap_port",
        "imap_user",
        "imap_folder",
        "imap_security",
        "esp",
    )
    secret_keys: ClassVar[tuple[str, ...]] = ("imap_password",)
    required_keys: ClassVar[tuple[str, ...]] = ("address",)

    @property
    def address(self) -> str:
        return str(self.inbox.setting("address") or settings.DEFAULT_FROM_EMAIL).strip().lower()

    # --- inbound ---------------------------------------------------------------
    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        if event.topic == TOPIC_TRACKING:
            return self._parse_tracking(bytes(event.body))
        raw = bytes(event.body)
        try:
            mail = parser.parse_mail(raw, own_addresses=(self.address,))
        except ValueError as exc:
            raise ChannelError(str(exc), permanent=True) from exc
        if mail.bounce is not None:
            if not mail.bounce.permanent:
                return []  # a delay notice: the MTA keeps trying
            return [
                DeliveryUpdate(
                    inbox_id=self.inbox.pk,
                    provider_id=original,
                    status=Entry.Delivery.FAILED,
                    error=mail.bounce.error,
                )
                for original in mail.bounce.original_message_ids
            ]
        try:
            identity = normalize(IdentityKind.EMAIL, mail.from_address)
        except InvalidIdentity as exc:
            raise ChannelError(f"sender: {exc}", permanent=True) from exc
        thread = ThreadHints(replies_to=mail.replies_to)
        thread.conversation_public_id = tokens.conversation_from_addresses(mail.recipients)
        number = tokens.number_from_subject(mail.subject)
        if number is not None and _is_participant(number, identity.value):
            thread.conversation_number = number
        parameters: dict[str, object] = {
            "message_id": mail.message_id,
            "from": mail.from_address,
            "to": mail.to,
            "cc": mail.cc,
            "stripped_text": mail.stripped_text,
            "quoted_text": mail.quoted_text,
        }
        if mail.reply_to:
            parameters["reply_to"] = mail.reply_to
        if mail.inline:
            parameters["inline"] = mail.inline
        if mail.notes:
            parameters["attachments_skipped"] = mail.notes
        if mail.auto_reasons:
            parameters["auto_reasons"] = mail.auto_reasons
        if mail.defects:
            parameters["defects"] = mail.defects
        return [
            InboundMessage(
                inbox_id=self.inbox.pk,
                channel=Channel.EMAIL,
                identities=[identity],
                team_id=self.inbox.team_id,
                contact_name=mail.from_name,
                provider_id=mail.message_id,
                subject=mail.subject,
                body=mail.text,
                html=mail.html,
                occurred_at=mail.date,
                attachments=mail.attachments,
                thread=thread,
                is_auto=mail.is_auto,
                parameters=parameters,
            )
        ]

    def _parse_tracking(self, body: bytes) -> list[ParsedItem]:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ChannelError(f"tracking event is not JSON: {exc}", permanent=True) from exc
        status = TRACKING_STATUSES.get(str(data.get("event_type", "")))
        provider_id = str(data.get("provider_id") or "")
        if status is None or not provider_id:
            return []
        return [
            DeliveryUpdate(
                inbox_id=self.inbox.pk,
                provider_id=provider_id,
                status=status,
                error=str(data.get("description") or data.get("event_type") or "")[:2000],
            )
        ]

    # --- outbound --------------------------------------------------------------
    def send(self, entry: Entry) -> str:
        from channels_in.email.sending import send_entry

        return send_entry(self, entry)

    def webhook_paths(self) -> list[str]:
        """anymail's URLs for the inbox's ESP (inbound mail and tracking events)."""
        esp = str(self.inbox.setting("esp") or "").strip().lower()
        if not esp:
            return []
        inbound = "inbound_mime" if esp == "mailgun" else "inbound"
        return [f"/hooks/anymail/{esp}/{inbound}/", f"/hooks/anymail/{esp}/tracking/"]

    def check_settings(self) -> list[str]:
        problems = super().check_settings()
        if self.inbox.setting("imap_host") and not self.inbox.get_secret("imap_password"):
            problems.append(f"inbox {self.inbox.slug!r} has imap_host but no 'imap_password'")
        return problems
