from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
from django.test import override_settings
from django.utils import timezone

from channels_in.registry import adapter_for
from conversations import actions
from conversations.models import Conversation, Entry
from tests.channels_in.twilio_base import (
    API,
    CUSTOMER,
    INBOX_NUMBER,
    WHATSAPP_NUMBER,
    TwilioTestCase,
    basic_auth,
    fixture,
    message_resource,
    twilio_error,
)

SENT_SID = "SM" + "5" * 32


def form_of(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


class OutboundSmsTests(TwilioTestCase):
    def setUp(self):
        self.hook("messages", fixture("sms"))
        self.conversation = Conversation.objects.get()

    def reply(self, body="Yes, it left the warehouse today.", **kwargs):
        with self.captureOnCommitCallbacks(execute=True):
            return actions.reply(self.conversation, self.alice, body, **kwargs)

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_a_reply_is_the_exact_request_twilio_expects(self):
        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        entry = self.reply()
        self.assertEqual(len(self.http.requests), 1)
        request = self.http.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(str(request.url), f"{API}/Messages.json")
        self.assertEqual(request.headers["Authorization"], basic_auth())
        self.assertEqual(request.headers["Content-Type"], "application/x-www-form-urlencoded")
        self.assertEqual(
            form_of(request),
            {
                "To": [CUSTOMER],
                "From": [INBOX_NUMBER],
                "Body": ["Yes, it left the warehouse today."],
                "StatusCallback": ["https://help.example.com/hooks/twilio/phone/status"],
            },
        )
        entry.refresh_from_db()
        self.assertEqual(entry.channel, "sms")
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.provider_id, SENT_SID)

    def test_status_callbacks_out_of_order_only_move_forward(self):
        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        entry = self.reply()
        status = fixture("message_status", MessageSid=SENT_SID, SmsSid=SENT_SID)
        for value in ("delivered", "sent", "queued"):
            response = self.hook("status", {**status, "MessageStatus": value, "SmsStatus": value})
            self.assertEqual(response.status_code, 200)
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "delivered")
        self.hook("status", {**status, "MessageStatus": "read", "SmsStatus": "read"})
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "read")
        # a retried callback is stored once
        self.hook("status", {**status, "MessageStatus": "read", "SmsStatus": "read"})
        from channels_in.models import InboundEvent

        self.assertEqual(
            sorted(
                InboundEvent.objects.filter(topic="status").values_list(
                    "provider_event_id", flat=True
                )
            ),
            sorted(f"{SENT_SID}:{s}" for s in ("delivered", "sent", "queued", "read")),
        )

    def test_an_undelivered_message_fails_with_twilios_reason(self):
        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        entry = self.reply()
        status = fixture("message_status", MessageSid=SENT_SID, SmsSid=SENT_SID)
        self.hook("status", {**status, "MessageStatus": "undelivered", "ErrorCode": "30003"})
        self.hook("status", {**status, "MessageStatus": "delivered"})
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("unreachable", entry.delivery_error)
        self.assertIn("Twilio 30003", entry.delivery_error)
        failed = Entry.objects.get(event="delivery_failed")
        self.assertIn("30003", failed.parameters["reason"])

    def test_a_status_for_a_message_we_never_sent_is_ignored(self):
        status = fixture("message_status", MessageSid="SM" + "9" * 32)
        self.assertEqual(self.hook("status", status).status_code, 200)
        self.assertEqual(Entry.objects.filter(kind="outbound").count(), 0)

    def test_an_invalid_number_fails_at_once_with_a_readable_reason(self):
        self.twilio_answers(
            {
                "/Messages.json": twilio_error(
                    400, 21211, "The 'To' number +385911234567 is not a valid phone number."
                )
            }
        )
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertEqual(entry.attempts, 1)
        self.assertEqual(
            entry.delivery_error, "The number is not a valid phone number. (Twilio 21211)"
        )

    def test_twilio_outages_and_rate_limits_are_retried(self):
        answers = iter(
            [
                twilio_error(503, 20500, "Service unavailable"),
                twilio_error(429, 20429, "Too many requests"),
                message_resource(SENT_SID),
            ]
        )
        self.http.responder = lambda r: next(answers)
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.attempts, 3)
        self.assertEqual(len(self.http.requests), 3)

    def test_a_network_error_is_retried(self):
        calls = []

        def flaky(request):
            calls.append(request)
            if len(calls) == 1:
                raise httpx.ConnectError("connection refused", request=request)
            return message_resource(SENT_SID)

        self.http.responder = flaky
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.attempts, 2)

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_attachments_are_sent_as_media_urls(self):
        from conversations.inbound import AttachmentRef

        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        self.reply(
            "Here is the label",
            attachments=[AttachmentRef("label.pdf", "application/pdf", content=b"%PDF")],
        )
        sent = form_of(self.http.requests[0])
        self.assertEqual(len(sent["MediaUrl"]), 1)
        self.assertTrue(sent["MediaUrl"][0].startswith("https://help.example.com/media/"))
        self.assertTrue(sent["MediaUrl"][0].endswith(".pdf"))


class WhatsAppWindowTests(TwilioTestCase):
    def setUp(self):
        self.hook("messages", fixture("whatsapp_text"))
        self.conversation = Conversation.objects.get()
        self.contact_id = self.conversation.contact_id
        self.adapter = adapter_for(self.inbox)

    def age_last_message(self, hours):
        Entry.objects.filter(kind="inbound").update(
            occurred_at=timezone.now() - timedelta(hours=hours)
        )

    def reply(self, body="Thanks, Ana!", **kwargs):
        with self.captureOnCommitCallbacks(execute=True):
            return actions.reply(self.conversation, self.alice, body, **kwargs)

    def test_inside_the_window_free_text_goes_to_whatsapp_addresses(self):
        self.assertEqual(self.adapter.unavailable_reason("whatsapp", self.contact_id), "")
        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        entry = self.reply()
        sent = form_of(self.http.requests[0])
        self.assertEqual(sent["To"], [f"whatsapp:{CUSTOMER}"])
        self.assertEqual(sent["From"], [f"whatsapp:{WHATSAPP_NUMBER}"])
        self.assertEqual(sent["Body"], ["Thanks, Ana!"])
        entry.refresh_from_db()
        self.assertEqual((entry.channel, entry.delivery_status), ("whatsapp", "sent"))

    def test_outside_the_window_free_text_is_refused_with_the_reason(self):
        self.age_last_message(25)
        reason = self.adapter.unavailable_reason("whatsapp", self.contact_id)
        self.assertIn("24 hours", reason)
        self.assertIn("order_update", reason)
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertEqual(entry.delivery_error, reason)
        self.assertEqual(self.http.requests, [])

    def test_outside_the_window_an_approved_template_is_sent(self):
        self.age_last_message(48)
        self.twilio_answers({"/Messages.json": message_resource(SENT_SID)})
        entry = self.reply(
            "Your order 1001 has shipped.",
            parameters={"template": "order_update", "template_variables": {"1": "1001"}},
        )
        sent = form_of(self.http.requests[0])
        self.assertEqual(sent["ContentSid"], ["HX0123456789abcdef0123456789abcdef"])
        self.assertEqual(json.loads(sent["ContentVariables"][0]), {"1": "1001"})
        self.assertNotIn("Body", sent)
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")

    def test_an_unknown_template_is_refused(self):
        self.age_last_message(48)
        entry = self.reply("x", parameters={"template": "nope"})
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("no WhatsApp template named nope", entry.delivery_error)

    def test_twilios_63016_is_permanent_and_explained(self):
        self.twilio_answers(
            {
                "/Messages.json": twilio_error(
                    400,
                    63016,
                    "Failed to send freeform message because you are outside the allowed window.",
                )
            }
        )
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertEqual(entry.attempts, 1)
        self.assertIn("24 hours", entry.delivery_error)
        self.assertIn("63016", entry.delivery_error)

    def test_sms_and_phone_are_not_windowed(self):
        self.age_last_message(100)
        self.assertEqual(self.adapter.unavailable_reason("sms", self.contact_id), "")
        self.assertEqual(self.adapter.unavailable_reason("phone", self.contact_id), "")
