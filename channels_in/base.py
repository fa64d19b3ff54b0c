"""The one small interface every channel adapter implements.

provider --HTTP--> verify(request) -> identify(request) -> InboundEvent (raw)
                -> parse(event) -> [InboundMessage | DeliveryUpdate]
                -> conversations.actions.record_inbound / record_delivery
reply -> send(entry) -> provider id
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.http import HttpRequest, HttpResponse, JsonResponse

from conversations.inbound import (
    AttachmentRef,
    CallUpdate,
    DeliveryUpdate,
    InboundMessage,
    ThreadHints,
)

__all__ = [
    "AttachmentRef",
    "BadPayload",
    "CallUpdate",
    "ChannelAdapter",
    "ChannelError",
    "DeliveryUpdate",
    "InboundMessage",
    "ParsedItem",
    "SignatureError",
    "ThreadHints",
]

if TYPE_CHECKING:
    from channels_in.models import InboundEvent, Inbox
    from conversations.models import Entry


class ChannelError(Exception):
    """A provider interaction failed.

    `permanent` means retrying cannot help (bad number, rejected template, forged
    signature); anything else is retried with backoff.
    """

    def __init__(self, message: str, *, permanent: bool = False, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


class SignatureError(ChannelError):
    """The request is not from the provider: answer 403 and store nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True, status=403)


class BadPayload(ChannelError):
    """The request is signed but malformed: answer 400 and store nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True, status=400)


ParsedItem = InboundMessage | DeliveryUpdate | CallUpdate


class ChannelAdapter:
    """Base for every inbox kind. Subclasses live in channels_in/adapters/<kind>.py."""

    kind: ClassVar[str] = ""
    # Timeline channels this inbox kind can carry.
    channels: ClassVar[tuple[str, ...]] = ()
    # Keys `inbox add --set` accepts; secret ones are encrypted and never printed.
    config_keys: ClassVar[tuple[str, ...]] = ()
    secret_keys: ClassVar[tuple[str, ...]] = ()
    required_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    # --- inbound ---------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        """Raise SignatureError unless the request provably comes from the provider."""
        raise SignatureError("this inbox kind accepts no webhooks")

    def identify(self, request: HttpRequest, topic: str) -> str:
        """The provider's id for this delivery (the dedupe key); raise BadPayload."""
        raise BadPayload("this inbox kind accepts no webhooks")

    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        """Turn a stored event into normalized items; raise ChannelError if it can't."""
        raise NotImplementedError

    def acknowledge(self, request: HttpRequest, event: InboundEvent | None) -> HttpResponse:
        """The answer to a stored (or duplicate) delivery; Twilio voice answers TwiML."""
        return JsonResponse({"ok": True})

    # --- outbound --------------------------------------------------------------
    def send(self, entry: Entry) -> str:
        """Send an outbound entry; return the provider's message id.

        Raises ChannelError (permanent or not) on failure; returns normally on success.
        """
        raise ChannelError(f"{self.kind} inboxes cannot send", permanent=True)

    def unavailable_reason(self, entry_channel: str, contact_id: int) -> str:
        """Why this inbox cannot message that contact now ('' when it can)."""
        return ""

    # --- operator --------------------------------------------------------------
    def webhook_paths(self) -> list[str]:
        return []

    def install(self) -> list[str]:
        """Provider-side setup run by `inbox add` (e.g. Telegram setWebhook)."""
        return []

    def check_settings(self) -> list[str]:
        """Missing settings, as sentences, for the system check."""
        return [
            f"inbox {self.inbox.slug!r} has no {key!r}"
            for key in self.required_keys
            if not (
                self.inbox.get_secret(key) if key in self.secret_keys else self.inbox.setting(key)
            )
        ]
