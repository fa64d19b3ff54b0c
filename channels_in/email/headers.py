"""Header values exactly as policy.default reads them, without its parser when it's simple.

The header registry runs a full RFC 5322 tokenizer on every header; for a plain
ASCII Subject or `Ana Horvat <ana@example.com>` that is most of what parsing a
mail costs. Here such values are read with a strict regex, giving the same text
and addresses the registry would; anything else (encoded words, quotes, comments,
groups, 8-bit bytes, odd spacing) goes through the registry as before.
"""

from __future__ import annotations

import re
from email.message import Message
from email.policy import EmailPolicy

# Names the registry parses as something other than unstructured text.
_ADDRESS_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "sender"}
    | {"resent-from", "resent-to", "resent-cc", "resent-bcc", "resent-sender"}
)
_STRUCTURED = _ADDRESS_HEADERS | {
    "date",
    "resent-date",
    "orig-date",
    "mime-version",
    "content-type",
    "content-disposition",
    "content-transfer-encoding",
    "message-id",
}
_LINESEP_RE = re.compile(r"\r\n|\r|\n")
# Printable ASCII and tabs only, and no encoded word ("=?"): the registry then
# decodes nothing and keeps the text as it is.
_PLAIN_RE = re.compile(r"(?:(?!=\?)[\x20-\x7e\t])*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
# `Name Words <local@domain>`, `<local@domain>` or `local@domain`: atoms only, one
# space between words, so there is nothing to unquote, unfold or decode.
_MAILBOX_RE = re.compile(
    rf"(?:(?P<name>{_ATOM}(?: {_ATOM})*) <(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|<(?P<bare_angle>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))"
)


def raw_value(message: Message, name: str) -> str | None:
    """The first `name` header as stored, unfolded as the policy does; None if absent."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return "".join(_LINESEP_RE.split(value)) if isinstance(value, str) else None
    return None


def simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """(display name, address) pairs of a plain mailbox list; None if it isn't plain."""
    if "=?" in value or '"' in value:
        return None
    found = []
    for item in value.split(","):
        match = _MAILBOX_RE.fullmatch(item.strip(" "))
        if match is None:
            return None
        address = match["angle"] or match["bare_angle"] or match["bare"]
        found.append((match["name"] or "", address))
    return found


def _render(mailboxes: list[tuple[str, str]]) -> str:
    # Address.__str__ for atoms-only names: `Name <addr>`, or the bare address.
    return ", ".join(f"{n} <{a}>" if n else a for n, a in mailboxes)


def text(message: Message, name: str) -> str | None:
    """str(message.get(name)), never parsing a plain value; None if the header is absent."""
    if not isinstance(message.policy, EmailPolicy):  # compat32 reads headers raw
        return _str_or_none(message.get(name))
    value = raw_value(message, name)
    if value is None:
        return None
    key = name.lower()
    if key in _ADDRESS_HEADERS:
        mailboxes = simple_mailboxes(value)
        if mailboxes is not None:
            return _render(mailboxes)
    elif key not in _STRUCTURED and _PLAIN_RE.fullmatch(value):
        return value
    return _str_or_none(message.get(name))


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def mailboxes(message: Message, name: str) -> list[tuple[str, str]] | None:
    """(display name, addr_spec) of each address in `name`, as the registry finds them.

    None when the header is absent or not an address header. May raise what the
    registry raises on hostile input.
    """
    key = name.lower()
    if key in _ADDRESS_HEADERS and isinstance(message.policy, EmailPolicy):
        value = raw_value(message, name)
        if value is None:
            return None
        simple = simple_mailboxes(value)
        if simple is not None:
            return simple
    found = getattr(message.get(name), "addresses", None)
    if found is None:
        return None
    return [(a.display_name, a.addr_spec) for a in found]
