"""Inbound mail as real clients send it: parsing, sanitising, attachments, noise."""

from __future__ import annotations

from unittest import mock

from django.test import override_settings

from channels_in import actions as channel_actions
from channels_in.email import parser
from channels_in.email.loops import allow_automatic_mail, is_automatic
from channels_in.models import InboundEvent
from conversations import actions as core
from conversations.models import Contact, Conversation, Entry
from tests.channels_in.test_email_support import (
    FIXTURES,
    SUPPORT,
    EmailTestCase,
    build_mail,
    fixture,
)


class ClientMailTests(EmailTestCase):
    def test_outlook_mail_lands_on_the_timeline_sanitised_with_its_inline_image(self):
        event = self.deliver(fixture("outlook_new.eml"))
        self.assertEqual(event.status, "processed")
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.channel, "email")
        self.assertEqual(entry.subject, "Račun za veljaču nije stigao")
        self.assertIn("račun za veljaču još nije stigao. Možete li", entry.body)
        self.assertEqual(
            entry.provider_id,
            "<AM0PR07MB1234ABCD5678EF90@AM0PR07MB1234.eurprd07.prod.outlook.com>",
        )
        self.assertEqual(entry.occurred_at.isoformat(), "2026-03-02T08:15:00+00:00")
        self.assertNotIn("<script", entry.html)
        self.assertNotIn("alert(1)", entry.html)
        self.assertNotIn("onclick", entry.html)
        self.assertNotIn("tracker.example.net", entry.html)
        self.assertIn('src="cid:image001.png@01DA6C1E.5B3F2A10"', entry.html)
        self.assertEqual(entry.parameters["to"], [SUPPORT])
        self.assertEqual(entry.parameters["cc"], ["ivan.horvat@firma.hr"])
        self.assertEqual(
            entry.parameters["inline"], {"image001.png@01DA6C1E.5B3F2A10": "image001.png"}
        )
        attachment = entry.attachments.get()
        self.assertEqual(
            (attachment.filename, attachment.content_type), ("image001.png", "image/png")
        )
        self.assertTrue(attachment.file.read().startswith(b"\x89PNG"))
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Ana Kovač")
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")), [("email", "ana.kovac@firma.hr")]
        )
        conversation = entry.conversation
        self.assertEqual(conversation.team, self.support)
        self.assertEqual(conversation.inbox, self.email_inbox)
        self.assertIsNotNone(conversation.waiting_since)

    def test_apple_mail_attachment_is_stored_and_the_signature_folded(self):
        self.deliver(fixture("apple_mail_attachment.eml"))
        entry = Entry.objects.get(kind="inbound")
        self.assertTrue(entry.body.endswith("Sent from my iPhone"))  # the full body stays
        self.assertEqual(
            entry.parameters["stripped_text"], "Hi,\n\nthe attached invoice does not open.\n\nMarko"
        )
        attachment = entry.attachments.get()
        self.assertEqual(attachment.filename, "invoice-2026-02.pdf")
        self.assertEqual(attachment.content_type, "application/pdf")
        self.assertTrue(attachment.file.read().startswith(b"%PDF-1.4"))

    def test_croatian_gmail_attribution_and_quote_are_folded(self):
        self.deliver(fixture("gmail_reply_hr.eml", OUTBOUND_ID="unknown@example.net"))
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.parameters["stripped_text"], "Hvala, račun je stigao.")
        self.assertIn("napisao je:", entry.parameters["quoted_text"])
        self.assertIn("> šaljemo račun ponovno.", entry.body)
        self.assertEqual(entry.subject, "Re: Račun za veljaču nije stigao")

    def test_calendar_and_tnef_parts_are_kept_as_attachments_with_a_note(self):
        self.deliver(fixture("outlook_tnef_calendar.eml"))
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.body, "Can we meet on Tuesday?")
        self.assertEqual(
            sorted(entry.attachments.values_list("filename", "content_type")),
            [("attachment-1.ics", "text/calendar"), ("winmail.dat", "application/ms-tnef")],
        )
        self.assertIn("TNEF", entry.parameters["attachments_skipped"][0]["reason"])

    def test_broken_mail_is_recorded_with_scrubbed_text(self):
        event = self.deliver(fixture("broken.eml"))
        self.assertEqual(event.status, "processed", event.error)
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(Contact.objects.get().name, "Jörg Müller")
        self.assertIn("Grüße, the order", entry.body)
        self.assertIn("CloseBoundaryNotFoundDefect", entry.parameters["defects"])
        self.assertTrue(entry.subject.startswith("Prošle tjedna"))
        entry.body.encode("utf-8")  # no lone surrogates reach the database

    def test_a_huge_attachment_is_kept_out_with_a_clear_record(self):
        raw = build_mail(
            "Ana <ana@example.com>",
            "see attached",
            message_id="<big-1@example.com>",
            attachments=[("scan.pdf", "application/pdf", b"%PDF" + b"0" * 5000)],
        )
        with override_settings(ATTACHMENT_MAX_BYTES=1000):
            event = self.deliver(raw)
        self.assertEqual(event.status, "processed")
        entry = Entry.objects.get(kind="inbound")
        self.assertFalse(entry.attachments.exists())
        [note] = entry.parameters["attachments_skipped"]
        self.assertEqual((note["filename"], note["size"]), ("scan.pdf", 5004))
        self.assertIn("the limit is 1000 bytes", note["reason"])
        self.assertIn(b"scan.pdf", bytes(event.body))  # the raw mail still has it

    def test_the_same_message_id_twice_is_one_message(self):
        raw = fixture("apple_mail_attachment.eml")
        self.deliver(raw)
        self.deliver(raw.replace(b"does not open", b"does not open (resent)"))
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_mail_without_message_id_is_keyed_by_its_hash(self):
        raw = b"From: a@example.com\r\nTo: support@support.example.com\r\nSubject: x\r\n\r\nhi\r\n"
        first = self.deliver(raw)
        self.deliver(raw)
        self.assertTrue(first.provider_event_id.startswith("sha256:"))
        self.assertEqual(Entry.objects.get(kind="inbound").provider_id, first.provider_event_id)


class FailureTests(EmailTestCase):
    def test_mail_without_a_sender_stays_raw_and_failed_with_its_reason(self):
        event = self.deliver(fixture("no_sender.eml"))
        self.assertEqual(event.status, "failed")
        self.assertIn("no usable sender address", event.error)
        self.assertEqual(bytes(event.body), fixture("no_sender.eml"))
        self.assertFalse(Entry.objects.exists())

    def test_a_parser_crash_is_kept_failed_and_replayable(self):
        with mock.patch.object(parser, "read_message", side_effect=RuntimeError("boom")):
            event = self.deliver(fixture("apple_mail_attachment.eml"))
        self.assertEqual(event.status, "failed")
        self.assertIn("RuntimeError: boom", event.error)
        self.assertFalse(Entry.objects.exists())
        with self.captureOnCommitCallbacks(execute=True):
            channel_actions.replay(event)
        event.refresh_from_db()
        self.assertEqual(event.status, "processed")
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)


class AutomaticMailTests(EmailTestCase):
    def test_mailing_list_mail_is_recorded_as_automatic(self):
        self.deliver(fixture("mailing_list.eml"))
        entry = Entry.objects.get(kind="inbound")
        self.assertTrue(entry.is_auto)
        self.assertIn("mailing list", entry.parameters["auto_reasons"])
        self.assertIsNone(entry.conversation.waiting_since)

    def test_out_of_office_reply_is_recorded_as_automatic_in_the_thread(self):
        self.deliver(fixture("outlook_new.eml"))
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            reply = core.reply(conversation, self.alice, "We are on it.", via="email")
        reply.refresh_from_db()
        self.deliver(fixture("out_of_office.eml", OUTBOUND_ID=str(reply.provider_id).strip("<>")))
        entry = Entry.objects.get(kind="inbound", is_auto=True)
        self.assertEqual(entry.conversation, conversation)
        self.assertIn("out of office", entry.parameters["auto_reasons"])

    def test_is_automatic_recognises_rfc_3834_and_vendor_headers(self):
        cases = {
            "Auto-Submitted": "auto-generated",
            "X-Autoreply": "yes",
            "X-Autorespond": "yes",
            "Precedence": "bulk",
            "List-Id": "<x.example.org>",
            "Return-Path": "<>",
        }
        for name, value in cases.items():
            raw = build_mail("a@example.com", "x", message_id="<a@x>", headers={name: value})
            self.assertTrue(is_automatic(parser.read_message(raw)), name)
        human = build_mail(
            "a@example.com", "x", message_id="<b@x>", headers={"Auto-Submitted": "no"}
        )
        self.assertFalse(is_automatic(parser.read_message(human)))

    def test_automatic_mail_to_one_sender_is_rate_limited(self):
        with override_settings(EMAIL_AUTO_REPLY_LIMIT_PER_HOUR=2):
            results = [allow_automatic_mail("Ana@Example.com") for _ in range(3)]
            self.assertTrue(allow_automatic_mail("other@example.com"))
        self.assertEqual(results, [True, True, False])


class BounceTests(EmailTestCase):
    def _sent_reply(self) -> Entry:
        self.deliver(fixture("apple_mail_attachment.eml"))
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            entry = core.reply(conversation, self.alice, "Here is a new copy.", via="email")
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        return entry

    def test_a_dsn_bounce_marks_our_mail_failed_and_opens_nothing(self):
        entry = self._sent_reply()
        contacts = Contact.objects.count()
        event = self.deliver(
            fixture("dsn_bounce.eml", OUTBOUND_ID=str(entry.provider_id).strip("<>"))
        )
        self.assertEqual(event.status, "processed")
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("nobody@firma.hr", entry.delivery_error)
        self.assertIn("5.1.1", entry.delivery_error)
        self.assertEqual(Conversation.objects.count(), 1)
        self.assertEqual(Contact.objects.count(), contacts)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_a_non_standard_qmail_bounce_is_found_by_flufl_bounce(self):
        entry = self._sent_reply()
        raw = fixture("qmail_bounce.eml", OUTBOUND_ID=str(entry.provider_id).strip("<>"))
        event = self.deliver(raw)
        self.assertEqual(event.status, "processed")
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("gone@example.net", entry.delivery_error)
        self.assertEqual(Conversation.objects.count(), 1)

    def test_a_delay_notice_changes_nothing(self):
        entry = self._sent_reply()
        raw = fixture("dsn_bounce.eml", OUTBOUND_ID=str(entry.provider_id).strip("<>"))
        raw = raw.replace(b"Action: failed", b"Action: delayed").replace(
            b"Status: 5.1.1", b"Status: 4.4.1"
        )
        event = self.deliver(raw)
        self.assertEqual(event.status, "ignored")
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(Conversation.objects.count(), 1)

    def test_a_bounce_of_mail_we_never_sent_is_ignored(self):
        event = self.deliver(fixture("dsn_bounce.eml", OUTBOUND_ID="someone-else@example.net"))
        self.assertEqual(event.status, "processed")
        self.assertFalse(Conversation.objects.exists())
        self.assertFalse(Contact.objects.exists())


class DisplayTests(EmailTestCase):
    def test_inline_images_point_at_the_stored_attachment(self):
        from channels_in.email.display import inline_html

        self.deliver(fixture("outlook_new.eml"))
        entry = Entry.objects.get(kind="inbound")
        attachment = entry.attachments.get()
        html = inline_html(entry)
        self.assertNotIn("cid:", html)
        self.assertIn(f'src="{attachment.file.url}"', html)

    def test_the_folded_view_keeps_the_quote_apart(self):
        from channels_in.email.display import display_text

        self.deliver(fixture("gmail_reply_hr.eml", OUTBOUND_ID="x@y"))
        shown, folded = display_text(Entry.objects.get(kind="inbound"))
        self.assertEqual(shown, "Hvala, račun je stigao.")
        self.assertTrue(folded.startswith("U pon, 3. stu 2026."))


class NeverCrashTests(EmailTestCase):
    def test_truncated_and_corrupted_mail_parses_or_fails_cleanly(self):
        import random

        rng = random.Random(6)
        samples = []
        for path in sorted(FIXTURES.glob("*.eml")):
            raw = path.read_bytes()
            samples += [raw[:cut] for cut in range(0, len(raw), max(1, len(raw) // 8))]
            for _ in range(8):
                data = bytearray(raw)
                for _ in range(8):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                samples.append(bytes(data))
        parsed = 0
        for raw in samples:
            try:
                mail = parser.parse_mail(raw)
            except ValueError as exc:  # the one documented failure: no sender at all
                self.assertIn("no usable sender", str(exc))
                continue
            parsed += 1
            for text in (mail.text, mail.html, mail.subject, mail.from_name, mail.stripped_text):
                text.encode("utf-8")  # nothing the database would refuse
        self.assertGreater(parsed, len(samples) // 2)
