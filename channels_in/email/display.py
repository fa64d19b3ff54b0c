"""What the timeline shows of an e-mail entry: inline images resolved, quotes folded."""

from __future__ import annotations

import re

from conversations.models import Entry

_CID_RE = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.IGNORECASE)


def inline_html(entry: Entry) -> str:
    """The entry's sanitised HTML with `cid:` images pointing at the stored attachments.

    A `cid:` with no stored attachment (kept out by a limit) is dropped, never
    fetched from elsewhere.
    """
    if not entry.html or "cid:" not in entry.html:
        return entry.html
    inline = entry.parameters.get("inline") if isinstance(entry.parameters, dict) else None
    by_name = {a.filename: a for a in entry.attachments.all() if a.file}

    def replace(match: re.Match[str]) -> str:
        filename = (inline or {}).get(match.group(2), "")
        attachment = by_name.get(filename)
        if attachment is None:
            return f"{match.group(1)}{match.group(3)}"
        return f"{match.group(1)}{attachment.file.url}{match.group(3)}"

    return _CID_RE.sub(replace, entry.html)


def display_text(entry: Entry) -> tuple[str, str]:
    """(what the sender wrote now, the folded quote and signature); the body stays whole."""
    parameters = entry.parameters if isinstance(entry.parameters, dict) else {}
    stripped = parameters.get("stripped_text")
    if not isinstance(stripped, str) or not stripped:
        return entry.body, ""
    return stripped, str(parameters.get("quoted_text") or "")
