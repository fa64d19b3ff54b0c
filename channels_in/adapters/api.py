"""The generic API channel: the reference adapter, and a real feature for integrations.

POST /hooks/api/<slug>/ with
    {"id": "...", "contact": {"name", "email", "phone", "identifier"},
     "body": "...", "timestamp": "ISO 8601"}
signed `X-Helpdesk-Signature: sha256=<hex HMAC-SHA256(raw body, inbox secret)>`.
Replies are POSTed, signed the same way, to the inbox's `callback_url`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
from django.http import HttpRequest
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from channels_in import http
from channels_in.base import (
    BadPayload,
    ChannelAdapter,
    ChannelError,
    InboundMessage,
    ParsedItem,
    SignatureError,
)
from channels_in.models import InboundEvent
from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.models import Channel, Entry, IdentityKind

SIGNATURE_HEADER = "X-Helpdesk-Signature"
MAX_BODY_CHARS = 100_000


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class ApiPayload:
    id: str
    body: str
    name: str
    identities: list[IdentityRef]
    timestamp: datetime | None


def read_payload(raw: bytes) -> ApiPayload:
    """Validate the documented body; raise BadPayload saying what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 255:
        raise BadPayload("'id' must be a non-empty string of at most 255 characters")
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise BadPayload("'body' must be a non-empty string")
    if len(body) > MAX_BODY_CHARS:
        raise BadPayload(f"'body' is longer than {MAX_BODY_CHARS} characters")
    contact = data.get("contact")
    if not isinstance(contact, dict):
        raise BadPayload("'contact' must be an object with email, phone or identifier")
    identities: list[IdentityRef] = []
    for field, kind in (
        ("email", IdentityKind.EMAIL),
        ("phone", IdentityKind.PHONE),
        ("identifier", IdentityKind.API),
    ):
        value = contact.get(field)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise BadPayload(f"'contact.{field}' must be a string")
        try:
            identities.append(normalize(kind, value))
        except InvalidIdentity as exc:
            raise BadPayload(f"'contact.{field}': {exc}") from exc
    if not identities:
        raise BadPayload("'contact' needs at least one of email, phone, identifier")
    name = contact.get("name") or ""
    if not isinstance(name, str):
        raise BadPayload("'contact.name' must be a string")
    timestamp = None
    if data.get("timestamp") not in (None, ""):
        raw_ts = data["timestamp"]
        timestamp = parse_datetime(raw_ts) if isinstance(raw_ts, str) else None
        if timestamp is None or timestamp.tzinfo is None:
            raise BadPayload("'timestamp' must be ISO 8601 with a time zone offset")
    return ApiPayload(event_id.strip(), body, name.strip(), identities, timestamp)


class ApiAdapter(ChannelAdapter):
    kind = "api"
    channels = (Channel.API,)
    config_keys: ClassVar[tuple[str, ...]] = ("callback_url",)
    secret_keys: ClassVar[tuple[str, ...]] = ("secret",)
    required_keys: ClassVar[tuple[str, ...]] = ("secret",)

    def verify(self, request: HttpRequest) -> None:
        secret = self.inbox.get_secret("secret")
        if not secret:
            raise SignatureError("this inbox has no secret configured")  # fail closed
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(given.encode(), sign(secret, request.body).encode()):
            raise SignatureError("signature does not match the body")

    def identify(self, request: HttpRequest, topic: str) -> str:
        return read_payload(request.body).id

    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        payload = read_payload(bytes(event.body))
        return [
            InboundMessage(
                inbox_id=self.inbox.pk,
                channel=Channel.API,
                identities=payload.identities,
                contact_name=payload.name,
                body=payload.body,
                provider_id=payload.id,
                occurred_at=payload.timestamp,
            )
        ]

    def send(self, entry: Entry) -> str:
        url = self.inbox.setting("callback_url")
        if not url:
            raise ChannelError("this API inbox has no callback_url", permanent=True)
        identities = {i.kind: i.value for i in entry.contact.identities.all()}
        body = json.dumps(
            {
                "id": str(entry.public_id),
                "conversation": entry.conversation_id,
                "contact": {
                    "name": entry.contact.name,
                    "email": identities.get(IdentityKind.EMAIL),
                    "phone": identities.get(IdentityKind.PHONE),
                    "identifier": identities.get(IdentityKind.API),
                },
                "author": entry.author.display_name if entry.author else None,
                "body": entry.body,
                "timestamp": entry.occurred_at.isoformat(),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.inbox.get_secret("secret"), body),
        }
        try:
            with http.client() as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(f"callback failed: {exc}") from exc
        if response.status_code >= 300:
            # 4xx means the receiver rejects this message; 429 and 5xx may pass later.
            permanent = 400 <= response.status_code < 500 and response.status_code != 429
            raise ChannelError(
                f"callback answered HTTP {response.status_code}: {response.text[:200]}",
                permanent=permanent,
            )
        return _provider_id(response) or str(entry.public_id)

    def webhook_paths(self) -> list[str]:
        return [reverse("channels_in:api", args=[self.inbox.slug])]


def _provider_id(response: httpx.Response) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        return ""
    value = data.get("id") if isinstance(data, dict) else None
    return str(value)[:255] if value else ""
