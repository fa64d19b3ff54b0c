"""Bounces of our outbound mail: RFC 3464 DSNs parsed here, the rest via flufl.bounce.

A bounce marks the original outbound entry failed (found by its Message-ID) and
never opens a conversation.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass, field
from email.message import Message

from channels_in.email import headers
from channels_in.email.text import part_text

log = logging.getLogger(__name__)

_MESSAGE_ID_HEADER_RE = re.compile(rb"^Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_BOUNCE_SUBJECT_RE = re.compile(
    r"(undeliver|delivery (status notification|failure|has failed)|returned mail"
    r"|mail delivery failed|failure notice|nedostavljiv)",
    re.IGNORECASE,
)


@dataclass
class Bounce:
    permanent: bool
    recipients: list[str] = field(default_factory=list)
    status: str = ""
    diagnostic: str = ""
    original_message_ids: list[str] = field(default_factory=list)

    @property
    def error(self) -> str:
        who = ", ".join(self.recipients) or "the recipient"
        detail = " ".join(x for x in (self.status, self.diagnostic) if x)
        return f"bounced for {who}: {detail}".strip().rstrip(":")


def _safe(message: Message, name: str) -> str:
    try:
        return (headers.text(message, name) or "").strip()
    except Exception:  # noqa: BLE001 - the header registry raises on some corrupt values
        return ""


def _fields(block: Message) -> dict[str, str]:
    try:
        return {k.lower(): str(v).strip() for k, v in block.items()}
    except Exception:  # noqa: BLE001
        return {}


def _dsn(message: Message) -> Bounce | None:
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    bounce = Bounce(permanent=False)
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            blocks: list[Message] = []
            if isinstance(payload, list):
                blocks = [b for b in payload if isinstance(b, Message)]
            elif isinstance(payload, str):
                # Some MTAs send it as one text blob: the blocks are blank-line separated.
                blocks = [email.message_from_string(b) for b in re.split(r"\n\s*\n", payload)]
            for block in blocks:
                fields = _fields(block)
                action = fields.get("action", "").lower()
                status = fields.get("status", "")
                if action == "failed" or status.startswith("5"):
                    bounce.permanent = True
                    recipient = fields.get("final-recipient") or fields.get("original-recipient")
                    if recipient:
                        bounce.recipients.append(recipient.split(";", 1)[-1].strip())
                    bounce.status = bounce.status or status
                    bounce.diagnostic = bounce.diagnostic or fields.get("diagnostic-code", "")
        elif ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_message, Message) and _safe(inner_message, "Message-ID"):
                bounce.original_message_ids.append(_safe(inner_message, "Message-ID"))
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            headers = email.message_from_string(part_text(part))
            if _safe(headers, "Message-ID"):
                bounce.original_message_ids.append(_safe(headers, "Message-ID"))
    return bounce


def _flufl_failures(raw: bytes) -> tuple[set[str], set[str]]:
    """(temporary, permanent) addresses; flufl.bounce raises on odd mail, so guarded."""
    try:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(email.message_from_bytes(raw))  # compat32
    except Exception:  # noqa: BLE001 - its detectors raise IndexError on some mail
        log.debug("flufl.bounce failed on a message", exc_info=True)
        return set(), set()

    def decode(values: set[bytes] | frozenset[bytes]) -> set[str]:
        return {v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values}

    return decode(temporary), decode(permanent)


def find_bounce(
    message: Message, raw: bytes, *, sender: str, null_return_path: bool
) -> Bounce | None:
    """A Bounce if this mail reports a delivery failure, else None."""
    own_id = _safe(message, "Message-ID")
    bounce = _dsn(message)
    daemon = sender.lower().startswith(("mailer-daemon@", "postmaster@", "mail-daemon@"))
    subject = _safe(message, "Subject")
    if bounce is None and not (daemon or null_return_path or _BOUNCE_SUBJECT_RE.search(subject)):
        return None
    temporary, permanent = _flufl_failures(raw)
    if bounce is None:
        if not permanent and not (daemon and _BOUNCE_SUBJECT_RE.search(subject)):
            return None
        bounce = Bounce(permanent=bool(permanent) or not temporary)
    if not bounce.recipients and permanent:
        bounce.recipients = sorted(permanent)
    if not bounce.original_message_ids:
        # Non-standard bounces quote the original headers somewhere in the body.
        found = [m.decode("ascii", "replace") for m in _MESSAGE_ID_HEADER_RE.findall(raw)]
        bounce.original_message_ids = [m for m in found if m != own_id]
    return bounce
