from __future__ import annotations

from channels_in.models import InboundEvent
from conversations.models import Contact, Conversation, Entry
from tests.channels_in.twilio_base import CUSTOMER, TwilioTestCase, fixture

CALL = "CA5f1d2e3c4b5a69788796a5b4c3d2e1f0"
XML = '<?xml version="1.0" encoding="UTF-8"?>'
MENU = (
    '<Gather action="/hooks/twilio/phone/voice/menu" method="POST" numDigits="1" timeout="6">'
    "<Say>For Support, press 1. For Sales, press 2.</Say></Gather>"
    '<Redirect method="POST">/hooks/twilio/phone/voice/menu</Redirect>'
)
RING_SUPPORT = (
    '<Dial action="/hooks/twilio/phone/voice/dial" answerOnBridge="true" method="POST" '
    'timeout="25">'
    '<Number statusCallback="/hooks/twilio/phone/dial-status" '
    'statusCallbackEvent="answered completed" statusCallbackMethod="POST">+385911111111</Number>'
    '<Number statusCallback="/hooks/twilio/phone/dial-status" '
    'statusCallbackEvent="answered completed" statusCallbackMethod="POST">+385912222222</Number>'
    "</Dial>"
)
VOICEMAIL = (
    "<Say>Nobody can take your call right now. Please leave a message after the tone, "
    "and press the hash key when you are done.</Say>"
    '<Record action="/hooks/twilio/phone/voice/voicemail" finishOnKey="#" maxLength="120" '
    'method="POST" playBeep="true" '
    'recordingStatusCallback="/hooks/twilio/phone/voice/recording" '
    'recordingStatusCallbackEvent="completed" recordingStatusCallbackMethod="POST" '
    'transcribe="true" transcribeCallback="/hooks/twilio/phone/voice/transcription" />'
    "<Say>We did not receive a message. Goodbye.</Say><Hangup />"
)


class VoiceTestCase(TwilioTestCase):
    def twiml(self, name, params, **kwargs):
        response = self.hook(name, params, **kwargs)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response["Content-Type"], "text/xml; charset=utf-8")
        return response.content.decode()

    def call_entry(self, sid=CALL):
        return Entry.objects.get(channel="phone", provider_id=sid)

    def events(self):
        return list(
            Entry.objects.filter(kind="event", event__startswith="call_")
            .order_by("id")
            .values_list("event", flat=True)
        )


class InboundCallTests(VoiceTestCase):
    def test_a_call_goes_through_the_menu_to_voicemail_with_recording_and_transcript(self):
        # 1. The call comes in: greeting and the menu, answered at once.
        self.assertEqual(
            self.twiml("voice", fixture("voice_incoming")),
            f"{XML}<Response><Say>Thank you for calling Acme.</Say>{MENU}</Response>",
        )
        call = self.call_entry()
        self.assertEqual(call.kind, "inbound")
        self.assertEqual(call.parameters["status"], "ringing")
        self.assertEqual(call.parameters["direction"], "inbound")
        self.assertEqual(call.contact.identities.get().value, CUSTOMER)

        # 2. The caller presses 1: Support's agents ring, for 25 seconds.
        self.assertEqual(
            self.twiml("voice/menu", fixture("voice_menu")),
            f"{XML}<Response>{RING_SUPPORT}</Response>",
        )
        # 3. Nobody answers: voicemail, recorded and transcribed.
        self.assertEqual(
            self.twiml("voice/dial", fixture("voice_dial")),
            f"{XML}<Response>{VOICEMAIL}</Response>",
        )
        # 4. The caller leaves a message.
        self.assertEqual(
            self.twiml("voice/voicemail", fixture("voice_voicemail")),
            f"{XML}<Response><Say>Thank you. We will call you back as soon as we can.</Say>"
            "<Hangup /></Response>",
        )
        # 5. The callbacks arrive minutes apart and out of order.
        self.twiml("voice/transcription", fixture("voice_transcription"))
        self.twiml("voice/recording", fixture("voice_recording"))
        self.twiml("call-status", fixture("call_status"))

        call.refresh_from_db()
        p = call.parameters
        self.assertEqual(p["status"], "completed")
        self.assertEqual(p["team"], "Support")
        self.assertEqual(p["digits"], "1")
        self.assertEqual(p["dial_status"], "no-answer")
        self.assertEqual(p["duration"], 52)
        self.assertTrue(p["voicemail"])
        self.assertTrue(p["missed"])
        self.assertFalse(p["answered"])
        self.assertEqual(p["recording_sid"], "RE7e5d4c3b2a19087f6e5d4c3b2a190870")
        self.assertTrue(
            p["recording_url"].endswith("/Recordings/RE7e5d4c3b2a19087f6e5d4c3b2a190870")
        )
        self.assertEqual(p["recording_duration"], 14)
        self.assertEqual(
            p["transcript"],
            "Hi, this is Ana, my order 1001 arrived broken, please call me back.",
        )
        self.assertEqual(call.body, p["transcript"])
        self.assertEqual(self.events(), ["call_started", "call_missed", "call_ended"])
        missed = Entry.objects.get(event="call_missed")
        self.assertTrue(missed.parameters["voicemail"])
        self.assertEqual(missed.parameters["call"], str(call.public_id))
        ended = Entry.objects.get(event="call_ended")
        self.assertEqual(
            ended.parameters, {"call": str(call.public_id), "status": "completed", "duration": 52}
        )
        # A missed call leaves the customer waiting for a call back.
        conversation = Conversation.objects.get()
        self.assertIsNotNone(conversation.waiting_since)
        self.assertEqual(Entry.objects.filter(channel="phone", kind="inbound").count(), 1)
        self.assertEqual(set(InboundEvent.objects.values_list("status", flat=True)), {"processed"})

    def test_twilio_retrying_callbacks_changes_nothing(self):
        self.twiml("voice", fixture("voice_incoming"))
        for _ in range(2):
            self.twiml("voice/transcription", fixture("voice_transcription"))
            self.twiml("call-status", fixture("call_status"))
        self.assertEqual(self.events(), ["call_started", "call_missed", "call_ended"])
        self.assertEqual(InboundEvent.objects.count(), 3)
        # a retried voice webhook still gets its TwiML
        self.assertIn("<Gather", self.twiml("voice", fixture("voice_incoming")))

    def test_the_recording_callback_first_still_finds_the_caller(self):
        self.twiml("voice", fixture("voice_incoming"))
        Entry.objects.all().delete()  # as if the first webhook's task had not run yet
        Conversation.objects.all().delete()
        self.twiml("voice/recording", fixture("voice_recording"))
        call = self.call_entry()
        self.assertEqual(call.contact.identities.get().value, CUSTOMER)
        self.assertTrue(call.parameters["voicemail"])

    def test_an_agent_answers(self):
        self.twiml("voice", fixture("voice_incoming"))
        self.twiml("voice/menu", fixture("voice_menu"))
        self.twiml("dial-status", fixture("dial_status"))
        self.assertEqual(
            self.twiml("voice/dial", fixture("voice_dial", DialCallStatus="completed")),
            f"{XML}<Response><Hangup /></Response>",
        )
        self.twiml("call-status", fixture("call_status"))
        call = self.call_entry()
        self.assertEqual(call.parameters["answered_by"], "Alice")
        self.assertTrue(call.parameters["answered"])
        self.assertFalse(call.parameters["missed"])
        self.assertEqual(self.events(), ["call_started", "call_answered", "call_ended"])
        self.assertEqual(
            Entry.objects.get(event="call_answered").parameters["answered_by"], "Alice"
        )
        self.assertIsNone(Conversation.objects.get().waiting_since)

    def test_pressing_2_rings_sales(self):
        twiml = self.twiml("voice/menu", fixture("voice_menu", Digits="2"))
        self.assertIn(">+385913333333</Number>", twiml)
        self.assertNotIn("+385911111111", twiml)
        self.assertEqual(self.call_entry().parameters["team"], "Sales")

    def test_a_wrong_key_repeats_the_menu(self):
        self.assertEqual(
            self.twiml("voice/menu", fixture("voice_menu", Digits="9")),
            f"{XML}<Response><Say>Sorry, that is not one of the options.</Say>"
            '<Redirect method="POST">/hooks/twilio/phone/voice</Redirect></Response>',
        )

    def test_no_key_rings_the_inboxs_team(self):
        params = fixture("voice_menu")
        del params["Digits"]
        self.assertEqual(
            self.twiml("voice/menu", params), f"{XML}<Response>{RING_SUPPORT}</Response>"
        )

    def test_without_a_menu_the_inboxs_team_rings_at_once(self):
        self.inbox.config.pop("menu")
        self.inbox.config["greeting"] = "Acme, good morning."
        self.inbox.save(update_fields=["config"])
        self.assertEqual(
            self.twiml("voice", fixture("voice_incoming")),
            f"{XML}<Response><Say>Acme, good morning.</Say>{RING_SUPPORT}</Response>",
        )

    def test_settings_given_as_text_on_the_command_line_work_too(self):
        self.inbox.config["menu"] = "1=Support, 2=Sales"
        self.inbox.config["voicemail_after_seconds"] = "25"
        self.inbox.save(update_fields=["config"])
        self.assertEqual(
            self.twiml("voice", fixture("voice_incoming")),
            f"{XML}<Response><Say>Thank you for calling Acme.</Say>{MENU}</Response>",
        )
        self.inbox.config["menu"] = "{not json"
        self.inbox.save(update_fields=["config"])
        self.assertIn(RING_SUPPORT, self.twiml("voice", fixture("voice_incoming")))

    def test_with_nobody_to_ring_the_caller_waits_with_music_then_leaves_a_voicemail(self):
        self.alice.phone = ""
        self.alice.save(update_fields=["phone"])
        self.bob.is_active = False
        self.bob.save(update_fields=["is_active"])
        self.assertEqual(
            self.twiml("voice/menu", fixture("voice_menu")),
            f"{XML}<Response>"
            f'<Enqueue action="/hooks/twilio/phone/voice/queue" method="POST" '
            f'waitUrl="/hooks/twilio/phone/voice/wait" waitUrlMethod="POST">'
            f"phone-{self.support.pk}</Enqueue></Response>",
        )
        wait = {**fixture("voice_menu"), "QueueSid": "QU" + "1" * 32, "QueueTime": "3"}
        del wait["Digits"]
        self.assertEqual(
            self.twiml("voice/wait", wait),
            f"{XML}<Response><Play>http://com.twilio.music.classical.s3.amazonaws.com/"
            "BusyStrings.mp3</Play></Response>",
        )
        self.assertEqual(
            self.twiml("voice/wait", {**wait, "QueueTime": "26"}),
            f"{XML}<Response><Leave /></Response>",
        )
        queue = {**wait, "QueueResult": "leave", "QueueTime": "26"}
        self.assertEqual(self.twiml("voice/queue", queue), f"{XML}<Response>{VOICEMAIL}</Response>")
        self.assertEqual(self.call_entry().parameters["queue_result"], "leave")

    def test_a_caller_hanging_up_unanswered_is_a_missed_call(self):
        self.twiml("voice", fixture("voice_incoming"))
        self.twiml("call-status", fixture("call_status", CallDuration="4"))
        call = self.call_entry()
        self.assertTrue(call.parameters["missed"])
        self.assertFalse(call.parameters.get("voicemail", False))
        self.assertEqual(self.events(), ["call_started", "call_missed", "call_ended"])

    def test_an_anonymous_caller_is_answered_but_not_recorded(self):
        params = fixture("voice_incoming", From="anonymous", Caller="anonymous")
        self.assertIn("<Gather", self.twiml("voice", params))
        self.assertFalse(Contact.objects.exists())
        self.assertEqual(InboundEvent.objects.get().status, "ignored")


class OneContactTests(VoiceTestCase):
    def test_sms_whatsapp_and_a_call_from_one_number_are_one_contact(self):
        self.hook("messages", fixture("sms"))
        self.hook("messages", fixture("whatsapp_text"))
        self.twiml("voice", fixture("voice_incoming"))
        contact = Contact.objects.get()
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")), [("phone", CUSTOMER)]
        )
        self.assertEqual(contact.name, "Ana Kovač")
        conversation = Conversation.objects.get()
        self.assertEqual(
            list(
                conversation.entries.filter(kind="inbound")
                .order_by("id")
                .values_list("channel", flat=True)
            ),
            ["sms", "whatsapp", "phone"],
        )
        self.assertEqual(conversation.last_inbound_channel, "phone")
