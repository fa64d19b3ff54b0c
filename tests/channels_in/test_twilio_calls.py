from __future__ import annotations

from urllib.parse import parse_qs

import httpx
from django.test import override_settings

from channels_in.models import InboundEvent
from conversations.models import Conversation, Entry
from tests.channels_in.twilio_base import (
    ACCOUNT_SID,
    API,
    CUSTOMER,
    INBOX_NUMBER,
    TwilioTestCase,
    basic_auth,
    fixture,
    twilio_error,
)

AGENT_LEG = "CA" + "a" * 32
CUSTOMER_LEG = "CA" + "c" * 32
PUBLIC = "https://help.example.com"


def call_resource(sid: str = AGENT_LEG, status: str = "queued") -> httpx.Response:
    return httpx.Response(
        201,
        json={
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "direction": "outbound-api",
            "from": INBOX_NUMBER,
            "to": "+385911111111",
            "sid": sid,
            "status": status,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        },
    )


def agent_leg_status(status: str, **extra: str) -> dict[str, str]:
    """The status callback of the call Twilio places to the agent (outbound-api)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": AGENT_LEG,
        "CallStatus": status,
        "Called": "+385911111111",
        "Caller": INBOX_NUMBER,
        "Direction": "outbound-api",
        "From": INBOX_NUMBER,
        "To": "+385911111111",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": {"initiated": "0", "ringing": "1", "in-progress": "2"}.get(status, "3"),
        "Timestamp": "Mon, 23 Nov 2026 12:00:00 +0000",
        **extra,
    }


@override_settings(PUBLIC_URL=PUBLIC)
class ClickToCallTests(TwilioTestCase):
    def setUp(self):
        self.hook("messages", fixture("sms"))
        self.conversation = Conversation.objects.get()

    def click(self, agent=None, conversation_id=None):
        self.client.force_login(agent or self.alice)
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                f"/hooks/twilio/call/{conversation_id or self.conversation.pk}/"
            )

    def test_twilio_calls_the_agent_then_bridges_to_the_customer(self):
        self.twilio_answers({"/Calls.json": call_resource()})
        response = self.click()
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["call_sid"], AGENT_LEG)

        self.assertEqual(len(self.http.requests), 1)
        request = self.http.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(str(request.url), f"{API}/Calls.json")
        self.assertEqual(request.headers["Authorization"], basic_auth())
        self.assertEqual(
            parse_qs(request.content.decode()),
            {
                "To": ["+385911111111"],
                "From": [INBOX_NUMBER],
                "Twiml": [
                    '<?xml version="1.0" encoding="UTF-8"?><Response>'
                    f'<Dial answerOnBridge="true" callerId="{INBOX_NUMBER}">'
                    f'<Number statusCallback="{PUBLIC}/hooks/twilio/phone/dial-status" '
                    'statusCallbackEvent="answered completed" statusCallbackMethod="POST">'
                    f"{CUSTOMER}</Number></Dial></Response>"
                ],
                "StatusCallback": [f"{PUBLIC}/hooks/twilio/phone/call-status"],
                "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            },
        )
        call = Entry.objects.get(channel="phone", kind="outbound")
        self.assertEqual(call.kind, "outbound")
        self.assertEqual(call.author, self.alice)
        self.assertEqual(call.provider_id, AGENT_LEG)
        self.assertEqual(call.conversation, self.conversation)
        self.assertEqual(call.parameters["direction"], "outbound")
        self.assertEqual(call.parameters["to"], CUSTOMER)
        self.assertEqual(call.parameters["status"], "queued")
        # Calling back is answering the customer.
        self.conversation.refresh_from_db()
        self.assertIsNone(self.conversation.waiting_since)
        self.assertEqual(self.conversation.human_reply_count, 1)

        # The agent picks up, then the customer does; they talk for 95 seconds.
        self.hook("call-status", agent_leg_status("ringing"))
        self.hook("call-status", agent_leg_status("in-progress"))
        customer_leg = {
            **fixture("dial_status"),
            "CallSid": CUSTOMER_LEG,
            "ParentCallSid": AGENT_LEG,
            "To": CUSTOMER,
            "Called": CUSTOMER,
            "From": INBOX_NUMBER,
        }
        self.hook("dial-status", customer_leg)
        self.hook("call-status", agent_leg_status("completed", CallDuration="95"))
        call.refresh_from_db()
        self.assertEqual(call.parameters["status"], "completed")
        self.assertEqual(call.parameters["duration"], 95)
        self.assertTrue(call.parameters["answered"])
        self.assertFalse(call.parameters["missed"])
        self.assertEqual(
            list(
                Entry.objects.filter(event__startswith="call_")
                .order_by("id")
                .values_list("event", flat=True)
            ),
            ["call_started", "call_answered", "call_ended"],
        )
        self.assertEqual(
            Entry.objects.filter(channel="phone", kind__in=("inbound", "outbound")).count(), 1
        )

    def test_a_callback_faster_than_our_commit_is_retried_until_the_call_is_known(self):
        from channels_in.actions import replay

        self.hook("call-status", agent_leg_status("initiated"))
        event = InboundEvent.objects.get(topic="call-status")
        self.assertEqual(event.status, "failed")
        self.assertIn("not on a timeline yet", event.error)
        self.twilio_answers({"/Calls.json": call_resource()})
        self.click()
        replay(event)
        event.refresh_from_db()
        self.assertEqual(event.status, "processed")
        self.assertEqual(
            Entry.objects.get(channel="phone", kind="outbound").parameters["status"], "initiated"
        )

    def test_an_agent_without_a_phone_number_is_told_so(self):
        self.alice.phone = ""
        self.alice.save(update_fields=["phone"])
        response = self.click()
        self.assertEqual(response.status_code, 400)
        self.assertIn("phone number to your profile", response.json()["error"])
        self.assertEqual(self.http.requests, [])
        self.assertFalse(Entry.objects.filter(channel="phone").exists())

    def test_twilio_refusing_the_call_fails_it_on_the_timeline(self):
        self.twilio_answers(
            {
                "/Calls.json": twilio_error(
                    400, 21211, "The 'To' number is not a valid phone number."
                )
            }
        )
        response = self.click()
        self.assertEqual(response.status_code, 400)
        self.assertIn("not a valid phone number", response.json()["error"])
        call = Entry.objects.get(channel="phone", kind="outbound")
        self.assertEqual(call.parameters["status"], "failed")
        self.assertIn("21211", call.parameters["error"])
        self.assertIsNone(call.provider_id)

    def test_an_agent_outside_the_team_cannot_call(self):
        self.assertEqual(self.click(agent=self.charlie).status_code, 404)
        self.assertEqual(self.http.requests, [])

    def test_it_needs_a_login_and_a_post(self):
        response = self.client.post(f"/hooks/twilio/call/{self.conversation.pk}/")
        self.assertEqual(response.status_code, 302)
        self.client.force_login(self.alice)
        self.assertEqual(
            self.client.get(f"/hooks/twilio/call/{self.conversation.pk}/").status_code, 405
        )


class CallbackRequestTests(TwilioTestCase):
    def test_a_callback_request_waits_on_the_timeline(self):
        self.hook("messages", fixture("sms"))
        conversation = Conversation.objects.get()
        self.client.force_login(self.alice)
        self.twilio_answers({})
        from conversations import actions

        with self.captureOnCommitCallbacks(execute=True):
            actions.reply(conversation, self.alice, "We'll look into it")
        conversation.refresh_from_db()
        self.assertIsNone(conversation.waiting_since)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(f"/hooks/twilio/callback/{conversation.pk}/")
        self.assertEqual(response.status_code, 201)
        entry = Entry.objects.get(event="callback_requested")
        self.assertEqual(entry.parameters, {"number": CUSTOMER, "source": "agent"})
        self.assertEqual(entry.channel, "phone")
        conversation.refresh_from_db()
        self.assertIsNotNone(conversation.waiting_since)

    def test_the_widget_helper_records_its_source(self):
        from channels_in.twilio.calls import request_callback

        self.hook("messages", fixture("sms"))
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            request_callback(conversation)
        self.assertEqual(
            Entry.objects.get(event="callback_requested").parameters["source"], "widget"
        )
