"""Threading tokens: the signed reply address and the `[#123]` subject tag."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

from django.conf import settings

# local+<32 hex of the conversation's public id><12 hex of HMAC>@domain
_TOKEN_RE = re.compile(r"\+([0-9a-f]{32})([0-9a-f]{12})@", re.IGNORECASE)
_TAG_RE = re.compile(r"\[#(\d{1,12})\]")
_MAC_LENGTH = 12


def _mac(hex_id: str) -> str:
    key = ("helpdesk-email-reply:" + settings.SECRET_KEY).encode()
    return hmac.new(key, hex_id.encode(), hashlib.sha256).hexdigest()[:_MAC_LENGTH]


def reply_token(public_id: uuid.UUID) -> str:
    return public_id.hex + _mac(public_id.hex)


def reply_address(address: str, public_id: uuid.UUID) -> str:
    """`support@example.com` -> `support+<token>@example.com`."""
    local, _, domain = address.partition("@")
    local = local.split("+", 1)[0]
    return f"{local}+{reply_token(public_id)}@{domain}"


def conversation_from_addresses(addresses: list[str]) -> uuid.UUID | None:
    """The conversation a reply address names, if its signature is ours."""
    for address in addresses:
        match = _TOKEN_RE.search(address)
        if match is None:
            continue
        hex_id, mac = match.group(1).lower(), match.group(2).lower()
        if hmac.compare_digest(mac, _mac(hex_id)):
            return uuid.UUID(hex_id)
    return None


def subject_tag(number: int) -> str:
    return f"[#{number}]"


def tagged_subject(subject: str, number: int) -> str:
    tag = subject_tag(number)
    subject = subject.strip() or "(no subject)"
    return subject if tag in subject else f"{subject} {tag}"


def number_from_subject(subject: str) -> int | None:
    match = _TAG_RE.search(subject or "")
    return int(match.group(1)) if match else None


def base_address(address: str) -> str:
    """`support+anything@example.com` -> `support@example.com` (lower-cased)."""
    local, _, domain = address.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
