"""One parser for every door: raw RFC 5322 bytes in, a ParsedMail out, never a crash.

The stdlib with policy.default (anymail's AnymailInboundMessage is the same type),
guarded at every step against what real mailers send (CHANNELS.md §4.7).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import parsedate_to_datetime
from typing import Any

from django.utils import timezone

from channels_in.email import bounces, headers, loops, quotes
from channels_in.email.text import html_to_text, part_text, sanitize_html, scrub
from conversations.inbound import AttachmentRef

_MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")
_MAX_REFERENCES = 50
_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


@dataclass
class ParsedMail:
    message_id: str
    from_address: str
    from_name: str
    subject: str
    date: datetime | None
    text: str
    html: str
    stripped_text: str
    quoted_text: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    # Every address the mail was delivered to (To, Cc, Delivered-To...): reply tokens.
    recipients: list[str] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)
    inline: dict[str, str] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    auto_reasons: list[str] = field(default_factory=list)
    bounce: bounces.Bounce | None = None
    defects: list[str] = field(default_factory=list)

    @property
    def is_auto(self) -> bool:
        return bool(self.auto_reasons) or self.bounce is not None

    @property
    def replies_to(self) -> list[str]:
        """Earlier Message-IDs, oldest first, In-Reply-To last (the closest parent)."""
        ids = [i for i in self.references if i not in self.in_reply_to] + self.in_reply_to
        return ids[-_MAX_REFERENCES:]


class _Registry(HeaderRegistry):
    """The stdlib's header registry, building each header class once, not per header."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(key)
        return cls


_REGISTRY = _Registry()


class _OncePolicy(EmailPolicy):
    """policy.default, except that each header of one mail goes through the registry once.

    The stdlib re-parses a header on every read (get_content_type() alone reads
    Content-Type again on each call), and that parsing was most of a mail's CPU.
    Header objects are immutable, so handing out the same one again changes nothing.
    One instance per mail (see read_message), so the memo goes away with the mail.
    """

    def __init__(self) -> None:
        super().__init__(header_factory=_REGISTRY, message_factory=EmailMessage)
        object.__setattr__(self, "_parsed", {})

    def header_fetch_parse(self, name: str, value: str) -> Any:
        parsed: dict[tuple[str, str], Any] = self.__dict__["_parsed"]
        key = (name, value)
        if key not in parsed:
            parsed[key] = super().header_fetch_parse(name, value)
        return parsed[key]


def read_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=_OncePolicy()).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # noqa: S101 - an EmailPolicy guarantees it
    return message


def fallback_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def message_id_of(raw: bytes) -> str:
    """The dedupe key of a raw mail: its Message-ID, else the sha256 of the bytes.

    Reads only the header block, so the doors can key a message cheaply.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = re.search(rb"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+>)", head)
    if match:
        return scrub(match.group(1).decode("utf-8", "surrogateescape"))[:255]
    return fallback_id(raw)


def header(message: Message, name: str) -> str:
    """A header as text; a malformed one falls back to its raw value, never raises."""
    try:
        value = headers.text(message, name)
        return scrub(value).strip() if value is not None else ""
    except Exception:  # noqa: BLE001 - header registry errors on hostile input
        for key, raw_value in message.raw_items() if isinstance(message, EmailMessage) else []:
            if key.lower() == name.lower():
                return scrub(raw_value).strip()
        return ""


def addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs as the header registry reads them, not
    via email.utils (CVE-2023-27043: getaddresses misparses on this interpreter)."""
    try:
        found = headers.mailboxes(message, name) or []
        pairs = [(scrub(display), scrub(address).lower()) for display, address in found]
    except Exception:  # noqa: BLE001 - hostile address headers
        pairs = []
    return [(n, a) for n, a in pairs if "@" in a and a.count("@") == 1 and " " not in a]


def message_ids(value: str) -> list[str]:
    return _MESSAGE_ID_RE.findall(value or "")


def _date(message: Message) -> datetime | None:
    try:
        # What the registry's Date header does, without its re-rendering of the value.
        value = headers.raw_value(message, "Date")
        when = parsedate_to_datetime(value) if value else None
    except Exception:  # noqa: BLE001 - ValueError, or worse on hostile input
        return None
    if not isinstance(when, datetime):
        return None
    if timezone.is_naive(when):
        when = timezone.make_aware(when, UTC)
    now = timezone.now()
    # A wrong clock must not sort a new mail into the past or the future.
    if when > now + timedelta(days=1) or when.year < 1990:
        return None
    return when


def _filename(part: Message, ctype: str, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if name:
        return scrub(name).replace("/", "_").replace("\\", "_")[:255]
    extension = {
        "message/rfc822": ".eml",
        "text/calendar": ".ics",
        "application/ms-tnef": ".dat",
    }.get(ctype, "")
    if ctype.startswith("image/"):
        extension = "." + ctype.split("/", 1)[1].split("+", 1)[0]
    return f"attachment-{index}{extension}"


def _part_bytes(part: Message) -> bytes:
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001
        ctype = "application/octet-stream"
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes()
            except Exception:  # noqa: BLE001
                return b""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return scrub(raw).encode() if isinstance(raw, str) else b""


class _Walker:
    """Collects body text, html and attachments from any MIME tree."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.html: list[str] = []
        self.attachments: list[tuple[Message, str]] = []

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > 30:
            return
        try:
            self._walk(part, depth)
        except Exception:  # noqa: BLE001 - a part the stdlib can't read is kept as bytes
            self.attachments.append((part, "application/octet-stream"))

    def _walk(self, part: Message, depth: int) -> None:
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype in ("message/rfc822", "message/global", "message/delivery-status"):
            self.attachments.append((part, ctype))
            return
        if part.is_multipart() and isinstance(payload, list):
            if ctype == "multipart/alternative":
                self._alternative(payload, depth)
                return
            for child in payload:
                if isinstance(child, Message):
                    self.walk(child, depth + 1)
            return
        try:
            disposition = part.get_content_disposition()
        except Exception:  # noqa: BLE001
            disposition = None
        has_name = bool(
            part.get_param("name") or part.get_param("filename", header="content-disposition")
        )
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not has_name:
            (self.text if ctype == "text/plain" else self.html).append(part_text(part))
            return
        self.attachments.append((part, ctype))

    def _alternative(self, children: list[Any], depth: int) -> None:
        # Keep one plain and one html rendering; other alternatives (calendar) attach.
        text_seen = html_seen = False
        for child in children:
            if not isinstance(child, Message):
                continue
            ctype = child.get_content_type()
            if ctype == "text/plain" and not text_seen:
                self.text.append(part_text(child))
                text_seen = True
            elif ctype == "text/html" and not html_seen:
                self.html.append(part_text(child))
                html_seen = True
            elif child.is_multipart():
                self.walk(child, depth + 1)
            elif ctype not in ("text/plain", "text/html"):
                self.attachments.append((child, ctype))


def parse_mail(raw: bytes, *, own_addresses: tuple[str, ...] = ()) -> ParsedMail:
    """Parse raw mail bytes. Raises ValueError only when there is no sender at all."""
    from conversations.actions import ActionError, check_attachment

    message = read_message(raw)
    senders = addresses(message, "From") or addresses(message, "Sender")
    senders = senders or addresses(message, "Reply-To") or addresses(message, "Return-Path")
    if not senders:
        raise ValueError("the mail has no usable sender address (From, Sender, Reply-To)")
    from_name, from_address = senders[0]
    walker = _Walker()
    walker.walk(message)
    text = "\n\n".join(t for t in walker.text if t.strip()).strip()
    raw_html = "\n".join(h for h in walker.html if h.strip())
    html = sanitize_html(raw_html)
    if not text and raw_html:
        text = html_to_text(raw_html)
    stripped, quoted = quotes.split_reply(text)

    attachments: list[AttachmentRef] = []
    inline: dict[str, str] = {}
    notes: list[dict[str, Any]] = []
    for index, (part, ctype) in enumerate(walker.attachments, start=1):
        content = _part_bytes(part)
        filename = _filename(part, ctype, index)
        if ctype in _TNEF_TYPES:
            notes.append({"filename": filename, "reason": "winmail.dat (TNEF) kept undecoded"})
        try:
            check_attachment(filename, ctype, len(content))
        except ActionError as exc:
            # Kept out, with a clear record on the entry; the raw mail still has it.
            notes.append(
                {
                    "filename": filename,
                    "content_type": ctype,
                    "size": len(content),
                    "reason": str(exc),
                }
            )
            continue
        content_id = header(part, "Content-ID").strip("<>")
        if content_id:
            inline[content_id] = filename
        attachments.append(AttachmentRef(filename=filename, content_type=ctype, content=content))

    return_path = header(message, "Return-Path").replace(" ", "")
    defects = [type(d).__name__ for d in message.defects][:20]
    try:
        bounce = bounces.find_bounce(
            message, raw, sender=from_address, null_return_path=return_path == "<>"
        )
    except Exception:  # noqa: BLE001 - corrupt report parts: recorded as mail, flagged
        bounce = None
        defects.append("BounceDetectionFailed")
    to = [a for _, a in addresses(message, "To")]
    cc = [a for _, a in addresses(message, "Cc")]
    recipients = to + cc
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        recipients += [a for _, a in addresses(message, name)]
    message_id = message_ids(header(message, "Message-ID"))
    return ParsedMail(
        message_id=message_id[0][:255] if message_id else fallback_id(raw),
        from_address=from_address,
        from_name=from_name,
        subject=header(message, "Subject")[:300],
        date=_date(message),
        text=text,
        html=html,
        stripped_text=stripped,
        quoted_text=quoted,
        to=to,
        cc=cc,
        reply_to=[a for _, a in addresses(message, "Reply-To")],
        recipients=recipients,
        in_reply_to=message_ids(header(message, "In-Reply-To"))[-1:],
        references=message_ids(header(message, "References")),
        attachments=attachments,
        inline=inline,
        notes=notes,
        auto_reasons=loops.automatic_reasons(message, own_addresses=own_addresses),
        bounce=bounce,
        defects=defects,
    )
