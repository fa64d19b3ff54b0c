"""Provider webhooks through django-anymail: inbound mail and tracking events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from django.test import override_settings

from channels_in import actions as channel_actions
from channels_in.models import InboundEvent
from conversations import actions as core
from conversations.models import Conversation, Entry
from tests.channels_in.test_email_support import EmailTestCase, build_mail, fixture

SECRET = "anymail-user:anymail-pass"
SIGNING_KEY = "mailgun-signing-key"
ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
AUTH: dict[str, Any] = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


@override_settings(ANYMAIL=ANYMAIL)
class InboundWebhookTests(EmailTestCase):
    def post_postmark(self, raw: bytes, **headers: Any):
        payload = {"RawEmail": raw.decode("utf-8", "replace"), "MessageID": "pm-inbound-1"}
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                "/hooks/anymail/postmark/inbound/",
                data=json.dumps(payload),
                content_type="application/json",
                **headers,
            )

    def test_a_postmark_inbound_mail_lands_on_the_timeline(self):
        response = self.post_postmark(fixture("apple_mail_attachment.eml"), **AUTH)
        self.assertEqual(response.status_code, 200)
        event = InboundEvent.objects.get()
        self.assertEqual(event.inbox, self.email_inbox)
        self.assertEqual(
            event.provider_event_id, "<8F2A1C3B-4D5E-4F60-9A1B-2C3D4E5F6A7B@icloud.com>"
        )
        self.assertEqual(event.headers["Esp"], "Postmark")
        self.assertEqual(event.status, "processed")
        entry = Entry.objects.get(kind="inbound")
        self.assertIn("the attached invoice does not open", entry.body)
        self.assertEqual(entry.attachments.get().filename, "invoice-2026-02.pdf")

    def test_without_basic_auth_nothing_is_stored(self):
        response = self.post_postmark(fixture("apple_mail_attachment.eml"))
        self.assertEqual(response.status_code, 400)
        self.assertFalse(InboundEvent.objects.exists())

    def test_the_same_mail_by_webhook_and_by_file_is_one_event(self):
        raw = fixture("apple_mail_attachment.eml")
        self.post_postmark(raw, **AUTH)
        self.deliver(raw)
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def post_mailgun(self, raw: bytes, *, key: str = SIGNING_KEY):
        timestamp, token = str(int(time.time())), "a" * 50
        signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
        data = {
            "body-mime": raw.decode("utf-8", "replace"),
            "recipient": "support@support.example.com",
            "sender": "ana@firma.hr",
            "timestamp": timestamp,
            "token": token,
            "signature": signature.hexdigest(),
        }
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post("/hooks/anymail/mailgun/inbound_mime/", data=data, **AUTH)

    def test_a_signed_mailgun_mail_is_accepted(self):
        raw = build_mail("Ana <ana@firma.hr>", "via mailgun", message_id="<mg-1@firma.hr>")
        self.assertEqual(self.post_mailgun(raw).status_code, 200)
        self.assertEqual(Entry.objects.get(kind="inbound").body, "via mailgun")

    def test_a_mailgun_mail_with_a_bad_signature_is_refused(self):
        raw = build_mail("Ana <ana@firma.hr>", "forged", message_id="<mg-2@firma.hr>")
        self.assertEqual(self.post_mailgun(raw, key="guess").status_code, 400)
        self.assertFalse(InboundEvent.objects.exists())

    @override_settings(ANYMAIL={})
    def test_without_a_webhook_secret_every_webhook_is_refused(self):
        response = self.post_postmark(fixture("apple_mail_attachment.eml"), **AUTH)
        self.assertEqual(response.status_code, 403)
        self.assertIn("ANYMAIL_WEBHOOK_SECRET", response.json()["error"])
        self.assertFalse(InboundEvent.objects.exists())


@override_settings(ANYMAIL=ANYMAIL)
class TrackingWebhookTests(EmailTestCase):
    def setUp(self) -> None:
        self.deliver(build_mail("Ana <ana@firma.hr>", "Hello", message_id="<t-1@firma.hr>"))
        with self.captureOnCommitCallbacks(execute=True):
            self.entry = core.reply(Conversation.objects.get(), self.alice, "Hi", via="email")
        # As the Postmark backend would: the ESP's own id is kept on the entry.
        channel_actions.set_entry_parameters(self.entry.pk, {"esp_message_id": "pm-out-1"})

    def track(self, payload: dict):
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                "/hooks/anymail/postmark/tracking/",
                data=json.dumps(payload),
                content_type="application/json",
                **AUTH,
            )
        self.assertEqual(response.status_code, 200)
        self.entry.refresh_from_db()

    def test_delivered_then_opened_moves_the_status_forward(self):
        self.track(
            {
                "RecordType": "Delivery",
                "MessageID": "pm-out-1",
                "Recipient": "ana@firma.hr",
                "DeliveredAt": "2026-03-02T10:00:00Z",
                "Details": "250 OK",
            }
        )
        self.assertEqual(self.entry.delivery_status, "delivered")
        self.track(
            {
                "RecordType": "Open",
                "MessageID": "pm-out-1",
                "Recipient": "ana@firma.hr",
                "ReceivedAt": "2026-03-02T10:05:00Z",
            }
        )
        self.assertEqual(self.entry.delivery_status, "read")
        self.assertEqual(
            InboundEvent.objects.filter(topic="tracking", status="processed").count(), 2
        )

    def test_a_hard_bounce_fails_the_reply(self):
        self.track(
            {
                "RecordType": "Bounce",
                "Type": "HardBounce",
                "TypeCode": 1,
                "MessageID": "pm-out-1",
                "Email": "ana@firma.hr",
                "Description": "The server was unable to deliver your message",
                "BouncedAt": "2026-03-02T10:00:00Z",
            }
        )
        self.assertEqual(self.entry.delivery_status, "failed")
        self.assertIn("unable to deliver", self.entry.delivery_error)

    def test_an_event_for_a_message_we_did_not_send_is_ignored(self):
        self.track(
            {
                "RecordType": "Delivery",
                "MessageID": "someone-elses",
                "Recipient": "x@y.z",
                "DeliveredAt": "2026-03-02T10:00:00Z",
            }
        )
        self.assertFalse(InboundEvent.objects.filter(topic="tracking").exists())
        self.assertEqual(self.entry.delivery_status, "sent")


class WebhookPathTests(EmailTestCase):
    def test_an_inbox_with_an_esp_lists_anymail_urls(self):
        from channels_in.registry import adapter_for

        inbox = channel_actions.create_inbox(
            "email", "mg", values={"address": "help@example.com", "esp": "Mailgun"}
        )
        self.assertEqual(
            adapter_for(inbox).webhook_paths(),
            ["/hooks/anymail/mailgun/inbound_mime/", "/hooks/anymail/mailgun/tracking/"],
        )
        self.assertEqual(adapter_for(self.email_inbox).webhook_paths(), [])
