"""Decoding helpers that never raise on real-world mail (CHANNELS.md §4.7)."""

from __future__ import annotations

import html as html_lib
import re
from email.message import EmailMessage, Message

import nh3

# Remote images are tracking pixels more often than content: dropped by default.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_ALLOWED_STYLES = {"color", "background-color", "font-weight", "font-style", "text-align"}


def scrub(value: object) -> str:
    """A str safe for the database: lone surrogates from raw 8-bit headers repaired.

    The parser keeps undecodable bytes as surrogate escapes; they are re-read as
    UTF-8, then Windows-1252 (the usual culprit), so `J\\udcf6rg` becomes `Jörg`.
    """
    text = "" if value is None else str(value)
    try:
        text.encode("utf-8")
        return text.replace("\x00", "")
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    try:
        return raw.decode("utf-8").replace("\x00", "")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace").replace("\x00", "")


def decode_bytes(payload: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", "replace")


def part_text(part: Message) -> str:
    """The text of a text/* part, whatever its charset claims."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return scrub(content)
        except Exception:  # noqa: BLE001, S110 - LookupError, KeyError, broken encodings
            pass
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        return scrub(decode_bytes(payload, part.get_content_charset()))
    raw = part.get_payload()
    return scrub(raw) if isinstance(raw, str) else ""


def _drop_remote_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.lower().startswith(("cid:", "data:")):
        return None
    return value


def sanitize_html(html: str) -> str:
    """nh3 with cid: kept (inline images) and remote images removed."""
    if not html.strip():
        return ""
    return nh3.clean(
        html,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_drop_remote_images,
        filter_style_properties=_ALLOWED_STYLES,
    )


_BLOCK_RE = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>")


def html_to_text(html: str) -> str:
    """A readable plain-text rendering for mail that only has HTML."""
    with_breaks = _BLOCK_RE.sub("\n", html)
    text = nh3.clean(with_breaks, tags=set(), clean_content_tags={"script", "style", "head"})
    text = html_lib.unescape(text)
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
