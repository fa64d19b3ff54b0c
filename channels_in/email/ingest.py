"""The one entrance for raw mail, whatever door it came through, and file readers.

Every door calls store_raw(): the Message-ID (or sha256 of the bytes) is the
event's dedupe key, so the same mail seen by IMAP and a webhook is one event.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from channels_in import actions
from channels_in.email.parser import message_id_of
from channels_in.models import InboundEvent, Inbox

TOPIC_MAIL = "mail"


class IngestError(ValueError):
    """Bad input to an ingest door (unknown inbox, missing path...)."""


def store_raw(
    inbox: Inbox, raw: bytes, *, source: str, meta: dict[str, str] | None = None
) -> tuple[InboundEvent, bool]:
    """Keep the raw mail (processing is enqueued after commit); (event, created)."""
    headers = {"Source": source, **(meta or {})}
    return actions.store_event(inbox, message_id_of(raw), TOPIC_MAIL, raw, headers)


def email_inbox(slug: str) -> Inbox:
    inbox = Inbox.objects.filter(slug=slug, is_active=True).first()
    if inbox is None:
        raise IngestError(f"no active inbox with slug {slug!r}")
    if inbox.kind != Inbox.Kind.EMAIL:
        raise IngestError(f"inbox {slug!r} is a {inbox.kind} inbox, not an email inbox")
    return inbox


@dataclass
class RawMail:
    origin: str
    raw: bytes


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def read_path(path: Path) -> Iterator[RawMail]:
    """Every message in a .eml file, an mbox file or a Maildir folder, as raw bytes."""
    if path.is_dir():
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            raise IngestError(f"{path} is a folder but not a Maildir (no cur/, new/, tmp/)")
        box = mailbox.Maildir(str(path), factory=None, create=False)
        for key in sorted(box.iterkeys()):
            with box.get_file(key) as handle:
                yield RawMail(f"{path}:{key}", handle.read())
        return
    if not path.is_file():
        raise IngestError(f"{path} does not exist")
    if _is_mbox(path):
        box_file = mailbox.mbox(str(path), factory=None, create=False)
        try:
            for index, key in enumerate(box_file.iterkeys()):
                yield RawMail(f"{path}#{index + 1}", box_file.get_bytes(key))
        finally:
            box_file.close()
        return
    yield RawMail(str(path), path.read_bytes())
