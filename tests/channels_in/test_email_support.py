"""Shared setup for the e-mail channel tests: an email inbox and a mail builder."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from django.utils import timezone

from channels_in import actions as channel_actions
from channels_in.email.ingest import store_raw
from channels_in.models import InboundEvent, Inbox
from tests.base import HelpdeskTestCase

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels_in" / "email"
SUPPORT = "support@support.example.com"


def fixture(name: str, **replace: str) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    for key, value in replace.items():
        raw = raw.replace(key.encode(), value.encode())
    return raw


def build_mail(
    sender: str,
    body: str,
    *,
    message_id: str,
    subject: str = "Question",
    to: str = SUPPORT,
    cc: str = "",
    in_reply_to: str = "",
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """A mail as a common client writes it (text part, threading headers)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    for filename, ctype, content in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


class EmailTestCase(HelpdeskTestCase):
    email_inbox: Inbox

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.email_inbox = channel_actions.create_inbox(
            "email",
            "support",
            name="Support",
            team_id=cls.support.pk,
            values={"address": SUPPORT},
        )

    def deliver(self, raw: bytes, *, inbox: Inbox | None = None) -> InboundEvent:
        """Store raw mail as any door does and run the processing enqueued on commit."""
        with self.captureOnCommitCallbacks(execute=True):
            event, _created = store_raw(inbox or self.email_inbox, raw, source="test")
        event.refresh_from_db()
        return event
