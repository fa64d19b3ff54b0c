"""Normalizing identity values, so the same address always finds the same contact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import phonenumbers
from django.conf import settings

from conversations.models import IdentityKind

if TYPE_CHECKING:
    from conversations.models import Contact


class InvalidIdentity(ValueError):
    """The value cannot be an identity of that kind (e.g. a phone number that isn't one)."""


@dataclass(frozen=True)
class IdentityRef:
    kind: str
    value: str


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DIGITS_RE = re.compile(r"^\+?\d{6,20}$")


def normalize_phone(value: str) -> str:
    """E.164 via phonenumbers; Twilio's `whatsapp:` / `tel:` prefixes are dropped."""
    raw = value.strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if raw.lower().startswith(prefix):
            raw = raw[len(prefix) :]
    region = getattr(settings, "PHONE_DEFAULT_REGION", None) or None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a possible phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_whatsapp_id(value: str) -> IdentityRef:
    """A WhatsApp id is a phone number when it looks like one, else a user id of its own.

    Mexican wa_ids keep the legacy mobile '1' (521 + 10 digits), which is not valid
    E.164; dropping it gives the number the same customer uses for SMS and calls.
    """
    raw = value.strip()
    if raw.lower().startswith("whatsapp:"):
        raw = raw[len("whatsapp:") :]
    digits = raw.lstrip("+")
    if _DIGITS_RE.match(raw):
        if digits.startswith("521") and len(digits) == 13:
            digits = "52" + digits[3:]
        return IdentityRef(IdentityKind.PHONE, normalize_phone("+" + digits))
    if not raw:
        raise InvalidIdentity("empty WhatsApp id")
    return IdentityRef(IdentityKind.WHATSAPP, raw)


def normalize(kind: str, value: str) -> IdentityRef:
    """Return the canonical (kind, value); raise InvalidIdentity on nonsense."""
    if kind not in IdentityKind.values:
        raise InvalidIdentity(f"unknown identity kind {kind!r}")
    value = (value or "").strip()
    if not value:
        raise InvalidIdentity(f"empty {kind} identity")
    if kind == IdentityKind.EMAIL:
        email = value.lower()
        if not _EMAIL_RE.match(email) or len(email) > 320:
            raise InvalidIdentity(f"not an e-mail address: {value!r}")
        return IdentityRef(kind, email)
    if kind == IdentityKind.PHONE:
        return IdentityRef(kind, normalize_phone(value))
    if kind == IdentityKind.WHATSAPP:
        return normalize_whatsapp_id(value)
    if len(value) > 320:
        raise InvalidIdentity(f"{kind} identity too long")
    return IdentityRef(kind, value)


def guess(value: str) -> IdentityRef:
    """Best reading of a bare value typed by an operator: e-mail, phone, else any kind."""
    value = value.strip()
    if "@" in value:
        return normalize(IdentityKind.EMAIL, value)
    try:
        return normalize(IdentityKind.PHONE, value)
    except InvalidIdentity:
        pass
    raise InvalidIdentity(f"{value!r} is neither an e-mail address nor a phone number")


def parse_identity(text: str) -> IdentityRef:
    """Read what an operator typed: `kind:value` (e.g. `telegram:12345`), or a bare
    e-mail address or phone number."""
    kind, sep, value = text.partition(":")
    if sep and kind in IdentityKind.values:
        return normalize(kind, value)
    return guess(text)


def find_contact(text: str) -> Contact:
    """The contact owning the identity an operator typed; raise LookupError if none."""
    from conversations.models import Contact, Identity

    ref = parse_identity(text)
    identity = (
        Identity.objects.filter(kind=ref.kind, value=ref.value).select_related("contact").first()
    )
    if identity is None:
        raise LookupError(f"no contact has the identity {ref.kind}:{ref.value}")
    contact: Contact = identity.contact
    while contact.merged_into_id is not None:
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact
