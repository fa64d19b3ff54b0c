"""The parser's shortcuts read every header exactly as policy.default would."""

from __future__ import annotations

import threading
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from unittest import mock

from django.test import SimpleTestCase

from channels_in.email import parser
from tests.channels_in.test_email_support import FIXTURES, build_mail


def _headers(message: Message) -> list[tuple[str, str, object]]:
    """Every header of every part as policy.default hands it out, with what we read."""
    seen: list[tuple[str, str, object]] = []
    for part in message.walk():
        for name in part:
            for value in part.get_all(name, []):
                params = getattr(value, "params", None)
                details = (
                    getattr(value, "addresses", None),
                    getattr(value, "datetime", None),
                    dict(params) if params is not None else None,
                    [type(d).__name__ for d in getattr(value, "defects", ())],
                )
                seen.append((name, str(value), details))
    return seen


class HeaderReadingTests(SimpleTestCase):
    def test_every_header_reads_as_with_policy_default(self):
        raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
        raws.append(build_mail("ana@example.com", "Bok", message_id="<p-1@x>"))
        for raw in raws:
            stock = BytesParser(policy=policy.default).parsebytes(raw)
            ours = parser.read_message(raw)
            self.assertEqual(_headers(ours), _headers(stock))
            self.assertEqual(
                [p.get_content_type() for p in ours.walk()],
                [p.get_content_type() for p in stock.walk()],
            )

    def test_each_header_of_a_mail_is_parsed_once(self):
        raw = (FIXTURES / "outlook_new.eml").read_bytes()
        parsed: list[tuple[str, str]] = []
        here = threading.get_ident()
        stock = HeaderRegistry.__call__

        def factory(registry: HeaderRegistry, name: str, value: str) -> object:
            if threading.get_ident() == here:  # not another test's leftover thread
                parsed.append((name.lower(), value))
            return stock(registry, name, value)

        with mock.patch.object(HeaderRegistry, "__call__", factory):
            parser.parse_mail(raw)
        # Parts have headers of their own: one parse per distinct name and value.
        self.assertGreater(len(parsed), 5)
        self.assertEqual(len(parsed), len(set(parsed)), parsed)
