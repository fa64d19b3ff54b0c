"""Outbound mail: headers, templates, attachments, failures, automatic mail limits."""

from __future__ import annotations

import smtplib
from unittest import mock

from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings

from channels_in.email import tokens
from channels_in.email.quotes import REPLY_MARKER
from conversations import actions as core
from conversations.inbound import AttachmentRef
from conversations.models import Conversation, Entry
from tests.channels_in.test_email_support import SUPPORT, EmailTestCase, build_mail


class OutboundTests(EmailTestCase):
    def setUp(self) -> None:
        self.deliver(
            build_mail(
                "Ana Kovač <ana@firma.hr>",
                "Where is my invoice?",
                message_id="<in-1@firma.hr>",
                subject="Invoice for March",
            )
        )
        self.conversation = Conversation.objects.get()

    def reply(self, body: str = "It is attached.", **kwargs) -> Entry:
        with self.captureOnCommitCallbacks(execute=True):
            entry = core.reply(self.conversation, self.alice, body, via="email", **kwargs)
        entry.refresh_from_db()
        return entry

    def test_a_reply_is_sent_with_threading_headers_from_the_agent(self):
        entry = self.reply(
            "It is attached.\nKind regards",
            attachments=[AttachmentRef("invoice.pdf", "application/pdf", content=b"%PDF-1.4 x")],
            parameters={"cc": ["ivan@firma.hr"]},
        )
        self.assertEqual(entry.delivery_status, "sent")
        [sent] = mail.outbox
        self.assertEqual(sent.from_email, f"Alice <{SUPPORT}>")
        self.assertEqual(sent.to, ["ana@firma.hr"])
        self.assertEqual(sent.cc, ["ivan@firma.hr"])
        self.assertEqual(sent.subject, f"Re: Invoice for March [#{self.conversation.pk}]")
        self.assertEqual(
            sent.reply_to, [tokens.reply_address(SUPPORT, self.conversation.public_id)]
        )
        self.assertEqual(sent.extra_headers["Message-ID"], entry.provider_id)
        self.assertTrue(str(entry.provider_id).endswith("@support.example.com>"))
        self.assertEqual(sent.extra_headers["In-Reply-To"], "<in-1@firma.hr>")
        self.assertEqual(sent.extra_headers["References"], "<in-1@firma.hr>")
        self.assertNotIn("Auto-Submitted", sent.extra_headers)
        self.assertIn(REPLY_MARKER, sent.body)
        self.assertIn("It is attached.\nKind regards", sent.body)
        self.assertIn("Alice", sent.body)
        assert isinstance(sent, EmailMultiAlternatives)
        [(html, mimetype)] = sent.alternatives
        html = str(html)
        self.assertEqual(mimetype, "text/html")
        self.assertIn("<p>It is attached.<br>Kind regards</p>", html)
        [(filename, content, ctype)] = sent.attachments
        self.assertEqual(
            (filename, content, ctype), ("invoice.pdf", b"%PDF-1.4 x", "application/pdf")
        )
        # The raw mail carries the headers too.
        raw = sent.message().as_bytes()
        self.assertIn(f"Message-ID: {entry.provider_id}".encode(), raw)

    def test_html_in_the_body_is_escaped(self):
        self.reply("<script>alert(1)</script>")
        sent = mail.outbox[0]
        assert isinstance(sent, EmailMultiAlternatives)
        html = str(sent.alternatives[0][0])
        self.assertNotIn("<script>", html)
        self.assertIn("&lt;script&gt;", html)

    def test_the_customer_answering_our_mail_threads_back(self):
        entry = self.reply()
        self.deliver(
            build_mail(
                "Ana <ana@firma.hr>",
                "Got it",
                message_id="<in-2@firma.hr>",
                in_reply_to=str(entry.provider_id),
                subject="Re: whatever",
            )
        )
        self.assertEqual(Conversation.objects.count(), 1)
        self.assertEqual(self.conversation.entries.filter(kind="inbound").count(), 2)

    def test_automatic_mail_says_so_and_is_rate_limited_per_recipient(self):
        with override_settings(EMAIL_AUTO_REPLY_LIMIT_PER_HOUR=2):
            entries = [self.reply(f"We got your mail ({n}).", is_auto=True) for n in range(3)]
        self.assertEqual([e.delivery_status for e in entries], ["sent", "sent", "failed"])
        self.assertIn("over the hourly limit", entries[2].delivery_error)
        self.assertEqual(len(mail.outbox), 2)
        self.assertEqual(mail.outbox[0].extra_headers["Auto-Submitted"], "auto-replied")

    def test_a_refused_recipient_fails_the_reply_for_good(self):
        error = smtplib.SMTPRecipientsRefused({"ana@firma.hr": (550, b"no such user")})
        with mock.patch.object(EmailMultiAlternatives, "send", side_effect=error):
            entry = self.reply()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("recipient refused", entry.delivery_error)
        self.assertEqual(entry.attempts, 1)
        self.assertTrue(
            self.conversation.entries.filter(kind="event", event="delivery_failed").exists()
        )

    def test_a_transport_error_is_retried_then_sent(self):
        calls = {"n": 0}
        original = EmailMultiAlternatives.send

        def flaky(message, fail_silently=False):
            calls["n"] += 1
            if calls["n"] == 1:
                raise smtplib.SMTPServerDisconnected("connection lost")
            return original(message, fail_silently)

        with mock.patch.object(EmailMultiAlternatives, "send", flaky):
            entry = self.reply()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.attempts, 2)
        self.assertEqual(len(mail.outbox), 1)
        # Both attempts carried the same Message-ID, so a duplicate is recognisable.
        self.assertEqual(mail.outbox[0].extra_headers["Message-ID"], entry.provider_id)
