"""Header shortcuts: the same text and addresses as policy.default, plain or hostile."""

from __future__ import annotations

import email
import random
from email import policy
from email.message import Message
from email.parser import BytesParser

from django.test import SimpleTestCase

from channels_in.email import headers

NAMES = ["From", "To", "Cc", "Reply-To", "Sender", "Subject", "X-Loop", "Return-Path"]
NAMES += ["Message-ID", "References", "Delivered-To", "Date", "Content-Type", "Content-ID"]
VALUES = [
    "ana@example.com",
    "<ana@example.com>",
    "Ana Horvat <ana@example.com>",
    "Ana <ANA@Example.COM>, bob@example.com,carol@example.com",
    '"Horvat, Ana" <ana@example.com>',
    "=?utf-8?q?J=C3=B6rg?= <j@example.com>",
    "J\udcf6rg <j@example.com>",
    "Ana  Horvat <ana@example.com>",
    "Ana<ana@example.com>",
    "ana@example.com (Ana)",
    "J. Smith <j@example.com>",
    "O'Neil x=y a?b <o@example.com>",
    "team: ana@example.com, bob@example.com;",
    "undisclosed-recipients:;",
    "foo@bar@baz",
    "alice@example.org)<bob@example.org>",
    "Ana <ana@example.com",
    "Ana <a b@example.com>",
    "ana@example.com,",
    "<>",
    "",
    "Re:  Order   10001 ",
    "Out of office\t(Ana)",
    "=?utf-8?b?xaBhbGplIHJh?=",
    "<a@b> <c@d>",
    "text/plain; charset=utf-8",
    "Mon, 2 Mar 2026 10:00:00 +0000",
    "Ana\r\n <ana@example.com>",
]


def _stock(message: Message, name: str) -> tuple[object, object]:
    try:
        value = message.get(name)
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return ("raised", type(exc).__name__), ("raised", type(exc).__name__)
    found = getattr(value, "addresses", None)
    pairs = None if found is None else [(a.display_name, a.addr_spec) for a in found]
    return (None if value is None else str(value)), pairs


def _ours(message: Message, name: str) -> tuple[object, object]:
    try:
        return headers.text(message, name), headers.mailboxes(message, name)
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__), ("raised", type(exc).__name__)


def _message(name: str, value: str) -> Message:
    raw = f"{name}: {value}\nX-Other: 1\n\nbody\n".encode("utf-8", "surrogateescape")
    return BytesParser(policy=policy.default).parsebytes(raw)


class HeaderShortcutTests(SimpleTestCase):
    def test_values_read_as_policy_default_reads_them(self):
        for name in NAMES:
            for value in VALUES:
                message = _message(name, value)
                self.assertEqual(_ours(message, name), _stock(message, name), (name, value))

    def test_random_mailbox_lists_read_as_policy_default_reads_them(self):
        rng = random.Random(6)
        words = ["Ana", "Horvat", "O'Neil", "x=y", "J.", "5", "=?utf-8?q?a?=", '"A, B"']
        addresses = ["a@example.com", "b.c@ex-ample.co.uk", "A@B.COM", "x+y@z", "a b@c"]
        spaces = ["", " ", "  ", "\t"]
        for _ in range(2000):
            items = []
            for _ in range(rng.randrange(1, 4)):
                name = rng.choice(spaces).join(rng.sample(words, rng.randrange(0, 3)))
                address = rng.choice(addresses)
                if name:
                    items.append(f"{name}{rng.choice(spaces)}<{address}>")
                else:
                    items.append(rng.choice([address, f"<{address}>"]))
            value = rng.choice([",", ", ", " , "]).join(items)
            header = rng.choice(["From", "To", "Cc"])
            message = _message(header, value)
            self.assertEqual(_ours(message, header), _stock(message, header), value)

    def test_a_missing_header_is_none(self):
        message = _message("Subject", "Hi")
        self.assertEqual(_ours(message, "From"), (None, None))
        self.assertEqual(_ours(message, "X-Loop"), (None, None))

    def test_compat32_messages_are_read_raw_as_before(self):
        message = email.message_from_string("From: Ana <a@x.org>\nMessage-ID:\n <m@x>\n\nhi\n")
        self.assertEqual(headers.text(message, "Message-ID"), message.get("Message-ID"))
        self.assertEqual(headers.text(message, "From"), "Ana <a@x.org>")
