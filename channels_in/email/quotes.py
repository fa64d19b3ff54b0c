"""Folding quoted history and signatures away, for display only (the full body is kept).

Our own pass first (the reply marker we put in outbound mail, English and Croatian
attribution lines, Outlook headers, signatures), then quotequail for the rest.
None of the PyPI packages recognise Croatian attributions (CHANNELS.md §4.2).
"""

from __future__ import annotations

import re

import quotequail

REPLY_MARKER = "##- Please type your reply above this line -##"

_CUT_PATTERNS = [
    re.compile(r"^\s*" + re.escape(REPLY_MARKER), re.MULTILINE),
    # Gmail / Apple Mail / Thunderbird: "On Mon, 3 Nov 2026 at 10:12, Ana <a@x> wrote:"
    re.compile(r"^\s*On\b[^\n]{0,300}?(\n[^\n]{0,300}?)?\bwrote:\s*$", re.MULTILINE),
    # Croatian Gmail: "U pon, 3. stu 2026. u 10:12 Ana <a@x> napisao je:" (and napisala)
    re.compile(
        r"^\s*(U|Dana)\b[^\n]{0,300}?(\n[^\n]{0,300}?)?\bnapisa(o|la|lo)( je)?:\s*$",
        re.MULTILINE,
    ),
    re.compile(r"^[^\n]{0,300}\bje napisa(o|la|lo):\s*$", re.MULTILINE),
    # Outlook: a rule, or the header block of the quoted mail.
    re.compile(
        r"^\s*-{2,}\s*(Original Message|Izvorna poruka|Originalna poruka)\s*-{2,}", re.I | re.M
    ),
    re.compile(r"^\s*_{10,}\s*$", re.MULTILINE),
    re.compile(r"^\s*\*?(From|Od|Šalje)\s*:\*?[^\n]*\n\s*\*?(Sent|Date|Poslano|Datum)\s*:", re.M),
]

_SIGNATURE_PATTERNS = [
    re.compile(r"^-- ?$", re.MULTILINE),
    re.compile(
        r"^\s*(Sent from my (iPhone|iPad|Android|mobile)|Get Outlook for (iOS|Android)"
        r"|Poslano (s|sa) mog(a)? (iPhonea|iPhone|Androida|mobitela))[^\n]*$",
        re.MULTILINE | re.IGNORECASE,
    ),
]


def split_reply(text: str) -> tuple[str, str]:
    """(what the sender wrote now, the quoted history and signature below it)."""
    if not text.strip():
        return "", ""
    cut = len(text)
    for pattern in _CUT_PATTERNS:
        match = pattern.search(text)
        if match and match.start() < cut:
            cut = match.start()
    top = text[:cut]
    if cut == len(text):
        try:
            chunks = quotequail.quote(text, quote_intro_line=True)
        except Exception:  # noqa: BLE001 - a third-party heuristic must not fail parsing
            chunks = [(True, text)]
        shown = []
        for visible, chunk in chunks:
            if not visible:
                break
            shown.append(chunk)
        top = "\n".join(shown) if shown else text
    # Trailing "> quoted" lines that no attribution announced.
    lines = top.rstrip().splitlines()
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    top = "\n".join(lines)
    for pattern in _SIGNATURE_PATTERNS:
        match = pattern.search(top)
        if match:
            top = top[: match.start()]
    stripped = top.strip()
    if not stripped:  # all quote (a bare forward): show everything
        return text.strip(), ""
    rest = text[len(top) :].strip() if text.startswith(top) else ""
    return stripped, rest
