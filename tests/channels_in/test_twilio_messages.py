from __future__ import annotations

import httpx
from django.test import override_settings

from channels_in.models import InboundEvent
from conversations.models import Attachment, Contact, Conversation, Entry
from tests.channels_in.twilio_base import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    SECONDARY_TOKEN,
    TwilioTestCase,
    basic_auth,
    fixture,
)


class InboundMessageTests(TwilioTestCase):
    def test_an_sms_lands_on_the_timeline_and_twilio_gets_empty_twiml(self):
        response = self.hook("messages", fixture("sms"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/xml; charset=utf-8")
        self.assertEqual(
            response.content.decode(), '<?xml version="1.0" encoding="UTF-8"?><Response />'
        )
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.channel, "sms")
        self.assertEqual(entry.body, "Hi, is my order shipped?")
        self.assertEqual(entry.provider_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f")
        self.assertEqual(entry.conversation.team, self.support)
        self.assertEqual(entry.parameters["to"], "+38515550100")
        contact = Contact.objects.get()
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")), [("phone", CUSTOMER)]
        )
        event = InboundEvent.objects.get()
        self.assertEqual(event.provider_event_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f")
        self.assertEqual(event.topic, "messages")
        self.assertEqual(event.status, "processed")

    def test_an_mms_with_two_media_fetches_both_files_with_basic_auth(self):
        payload = fixture("mms_two_media")
        files = {
            payload["MediaUrl0"]: b"\xff\xd8jpeg-bytes",
            payload["MediaUrl1"]: b"\x89PNG-bytes",
        }
        self.http.responder = lambda r: httpx.Response(
            200, content=files[str(r.url)], headers={"Content-Type": "image/jpeg"}
        )
        self.hook("messages", payload)
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.body, "Photos of the broken box")
        self.assertEqual(
            [str(r.url) for r in self.http.requests], [payload["MediaUrl0"], payload["MediaUrl1"]]
        )
        for request in self.http.requests:
            self.assertEqual(request.method, "GET")
            self.assertEqual(request.headers["Authorization"], basic_auth())
        attachments = list(entry.attachments.order_by("id"))
        self.assertEqual(len(attachments), 2)
        self.assertEqual(attachments[0].filename, "ME11111111111111111111111111111111.jpg")
        self.assertEqual(attachments[1].filename, "ME22222222222222222222222222222222.png")
        self.assertEqual(attachments[0].file.read(), b"\xff\xd8jpeg-bytes")
        self.assertEqual(attachments[1].size, len(b"\x89PNG-bytes"))

    def test_media_that_cannot_be_fetched_yet_is_retried_and_never_fetched_twice(self):
        payload = fixture("mms_two_media", NumMedia="1")
        answers = iter([httpx.Response(503), httpx.Response(200, content=b"late")])
        self.http.responder = lambda r: next(answers)
        self.hook("messages", payload)
        attachment = Attachment.objects.get()
        self.assertEqual(attachment.file.read(), b"late")
        from channels_in.twilio.tasks import fetch_media

        fetch_media.apply(args=(self.inbox.pk, payload["MessageSid"]))
        self.assertEqual(len(self.http.requests), 2)

    def test_whatsapp_text_names_the_contact_and_is_the_same_phone_identity(self):
        self.hook("messages", fixture("whatsapp_text"))
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.channel, "whatsapp")
        self.assertEqual(entry.body, "Hello from WhatsApp")
        self.assertEqual(entry.parameters["wa_id"], "385911234567")
        self.assertEqual(entry.parameters["profile_name"], "Ana Kovač")
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Ana Kovač")
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")), [("phone", CUSTOMER)]
        )

    def test_whatsapp_media_is_fetched(self):
        payload = fixture("whatsapp_media")
        self.http.responder = lambda r: httpx.Response(
            200, content=b"photo", headers={"Content-Type": "image/jpeg"}
        )
        self.hook("messages", payload)
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.channel, "whatsapp")
        attachment = entry.attachments.get()
        self.assertEqual(attachment.content_type, "image/jpeg")
        self.assertEqual(attachment.file.read(), b"photo")
        self.assertEqual(str(self.http.requests[0].url), payload["MediaUrl0"])

    def test_a_whatsapp_location_becomes_readable_text(self):
        self.hook("messages", fixture("whatsapp_location"))
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.body, "Location: Our shop, Trg bana Jelačića 1 (45.8150, 15.9819)")
        self.assertEqual(entry.parameters["location"]["latitude"], "45.8150")

    def test_a_quick_reply_button_keeps_its_payload_and_threads_on_the_original(self):
        self.hook("messages", fixture("whatsapp_button"))
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.body, "Yes, call me")
        self.assertEqual(entry.parameters["button_payload"], "callback_yes")

    def test_twilio_retries_are_one_message(self):
        for _ in range(3):
            self.assertEqual(self.hook("messages", fixture("sms")).status_code, 200)
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_the_task_run_twice_records_once(self):
        self.hook("messages", fixture("sms"))
        from channels_in.actions import replay

        replay(InboundEvent.objects.get())
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_a_message_without_sid_is_400_and_not_stored(self):
        payload = fixture("sms")
        del payload["MessageSid"]
        response = self.hook("messages", payload)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(InboundEvent.objects.exists())


class SignatureTests(TwilioTestCase):
    def assert_refused(self, response):
        self.assertEqual(response.status_code, 403)
        self.assertFalse(InboundEvent.objects.exists())
        self.assertFalse(Entry.objects.exists())
        self.assertFalse(Contact.objects.exists())

    def test_an_unsigned_request_is_refused(self):
        self.assert_refused(self.hook("messages", fixture("sms"), token=None))

    def test_a_request_signed_with_another_token_is_refused(self):
        self.assert_refused(self.hook("messages", fixture("sms"), token="forged"))

    def test_a_tampered_parameter_is_refused(self):
        from twilio.request_validator import RequestValidator

        payload = fixture("sms")
        url = "http://testserver/hooks/twilio/phone/messages"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, payload)
        tampered = {**payload, "Body": "Send the refund to me"}
        self.assert_refused(self.hook("messages", tampered, signature=signature))

    def test_an_added_parameter_is_refused(self):
        from twilio.request_validator import RequestValidator

        payload = fixture("sms")
        url = "http://testserver/hooks/twilio/phone/messages"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, payload)
        self.assert_refused(
            self.hook("messages", {**payload, "NumMedia": "1"}, signature=signature)
        )

    def test_a_signature_for_another_endpoint_is_refused(self):
        self.assert_refused(
            self.hook(
                "messages",
                fixture("sms"),
                signed_url="http://testserver/hooks/twilio/phone/status",
            )
        )

    def test_the_secondary_token_is_accepted_during_rotation(self):
        self.inbox.set_secret("auth_token_secondary", SECONDARY_TOKEN)
        self.inbox.save(update_fields=["secrets"])
        self.assertEqual(
            self.hook("messages", fixture("sms"), token=SECONDARY_TOKEN).status_code, 200
        )
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_an_inbox_without_token_fails_closed(self):
        self.inbox.secrets = {}
        self.inbox.save(update_fields=["secrets"])
        self.assert_refused(self.hook("messages", fixture("sms")))

    def test_a_request_for_another_account_is_refused(self):
        payload = fixture("sms", AccountSid="AC" + "f" * 32)
        self.assert_refused(self.hook("messages", payload))

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_behind_a_proxy_the_public_url_is_what_twilio_signed(self):
        payload = fixture("sms")
        response = self.hook(
            "messages",
            payload,
            signed_url="https://help.example.com/hooks/twilio/phone/messages",
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_behind_a_proxy_the_internal_url_is_refused(self):
        internal = "http://testserver/hooks/twilio/phone/messages"
        self.assert_refused(self.hook("messages", fixture("sms"), signed_url=internal))

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_the_query_string_is_part_of_the_signed_url(self):
        payload = fixture("sms")
        path = "/hooks/twilio/phone/messages?source=number"
        signed = self.post_twilio(path, payload, signed_url="https://help.example.com" + path)
        self.assertEqual(signed.status_code, 200)
        InboundEvent.objects.all().delete()
        Entry.objects.all().delete()
        Conversation.objects.all().delete()
        Contact.objects.all().delete()
        self.assert_refused(
            self.post_twilio(
                path,
                payload,
                signed_url="https://help.example.com/hooks/twilio/phone/messages",
            )
        )

    def test_an_unknown_inbox_is_404(self):
        response = self.post_twilio("/hooks/twilio/nope/messages", fixture("sms"))
        self.assertEqual(response.status_code, 404)

    def test_get_is_not_allowed(self):
        self.assertEqual(self.client.get("/hooks/twilio/phone/messages").status_code, 405)


class AccountTests(TwilioTestCase):
    def test_the_inbox_lists_its_webhooks(self):
        from channels_in.registry import adapter_for

        self.assertEqual(
            adapter_for(self.inbox).webhook_paths(),
            [
                "/hooks/twilio/phone/messages",
                "/hooks/twilio/phone/status",
                "/hooks/twilio/phone/voice",
                "/hooks/twilio/phone/call-status",
            ],
        )
        self.assertEqual(adapter_for(self.inbox).check_settings(), [])
        self.assertEqual(self.inbox.setting("account_sid"), ACCOUNT_SID)

    def test_the_system_check_names_missing_numbers_and_unknown_teams(self):
        from channels_in.registry import adapter_for

        self.inbox.config = {"account_sid": ACCOUNT_SID, "menu": "1=Support,2=Billing"}
        self.inbox.save(update_fields=["config"])
        self.assertEqual(
            adapter_for(self.inbox).check_settings(),
            [
                "inbox 'phone' has neither 'phone_number' nor 'whatsapp_number'",
                "inbox 'phone' has menu entries for unknown teams: Billing",
            ],
        )

    def test_media_outside_twilio_is_never_fetched_with_our_credentials(self):
        payload = fixture(
            "mms_two_media", NumMedia="1", MediaUrl0="https://attacker.example.com/x.jpg"
        )
        self.hook("messages", payload)
        self.assertEqual(self.http.requests, [])
        self.assertFalse(Attachment.objects.get().file)
