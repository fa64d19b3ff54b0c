from __future__ import annotations

import json

import httpx
import time_machine

from channels_in.models import InboundEvent
from conversations import actions
from conversations.identities import normalize
from conversations.inbound import InboundMessage
from conversations.models import Attachment, Contact, Conversation, Entry
from tests.channels_in.social_base import (
    ACCESS_TOKEN,
    GRAPH,
    VERIFY_TOKEN,
    MetaTestCase,
    fixture,
    meta_body,
)

PNID = "106540352242922"
WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA"
# The fixtures' timestamps (2025-02-12 00:43:44 UTC) and a moment inside the window.
SENT_AT = 1739321024
INSIDE_WINDOW = "2025-02-12T02:00:00+00:00"


class WhatsAppCloudTestCase(MetaTestCase):
    kind = "whatsapp_cloud"
    slug = "wa"
    channel = "whatsapp_cloud"
    config = {"phone_number_id": PNID, "waba_id": "102290129340398"}  # noqa: RUF012


class HandshakeTests(WhatsAppCloudTestCase):
    def handshake(self, **params):
        query = {
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
            **params,
        }
        return self.client.get("/hooks/meta/wa/", query)

    def test_the_right_token_gets_the_bare_challenge(self):
        response = self.handshake()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"1158201444")
        self.assertTrue(response["Content-Type"].startswith("text/plain"))

    def test_a_wrong_token_is_403(self):
        response = self.handshake(**{"hub.verify_token": "guess"})
        self.assertEqual(response.status_code, 403)
        self.assertNotIn(b"1158201444", response.content)

    def test_a_wrong_mode_is_403(self):
        self.assertEqual(self.handshake(**{"hub.mode": "unsubscribe"}).status_code, 403)

    def test_a_missing_token_is_403(self):
        response = self.client.get(
            "/hooks/meta/wa/", {"hub.mode": "subscribe", "hub.challenge": "1"}
        )
        self.assertEqual(response.status_code, 403)

    def test_an_inbox_without_verify_token_refuses_every_handshake(self):
        from channels_in.actions import create_inbox

        create_inbox("whatsapp_cloud", "bare", values={"app_secret": "x"})
        response = self.client.get(
            "/hooks/meta/bare/",
            {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
        )
        self.assertEqual(response.status_code, 403)

    def test_an_unknown_inbox_is_404(self):
        self.assertEqual(self.client.get("/hooks/meta/nope/").status_code, 404)

    def test_other_methods_are_405(self):
        self.assertEqual(self.client.put("/hooks/meta/wa/").status_code, 405)


class SignatureTests(WhatsAppCloudTestCase):
    def test_an_unsigned_post_is_refused_and_nothing_stored(self):
        response = self.post_meta(name="text", secret=None)
        self.assertEqual(response.status_code, 403)
        self.assert_nothing_stored()

    def test_a_post_signed_with_another_secret_is_refused(self):
        self.assertEqual(self.post_meta(name="text", secret="forged").status_code, 403)
        self.assert_nothing_stored()

    def test_a_signature_of_another_body_is_refused(self):
        body = meta_body(fixture("whatsapp_cloud", "text"))
        from channels_in.adapters.meta import sign
        from tests.channels_in.social_base import APP_SECRET

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                "/hooks/meta/wa/",
                data=body.replace(b"arrived", b"ARRIVED"),
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=sign(APP_SECRET, body),
            )
        self.assertEqual(response.status_code, 403)
        self.assert_nothing_stored()

    def test_the_signature_covers_the_raw_escaped_bytes(self):
        payload = fixture("whatsapp_cloud", "text")
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "Grüße"
        raw = meta_body(payload)
        self.assertIn(b"\\u00fc", raw)
        self.assert_ok(self.post_meta(raw=raw))
        self.assertEqual(self.only_entry().body, "Grüße")

    def test_an_inbox_without_app_secret_fails_closed(self):
        from channels_in.actions import create_inbox

        create_inbox("whatsapp_cloud", "nosecret", values={"verify_token": "t"})
        self.assertEqual(self.post_meta(name="text", slug="nosecret", secret="").status_code, 403)
        self.assert_nothing_stored()

    def test_malformed_json_is_400(self):
        response = self.post_meta(raw=b"{nope")
        self.assertEqual(response.status_code, 400)
        self.assertFalse(InboundEvent.objects.exists())


class InboundTests(WhatsAppCloudTestCase):
    def post(self, name):
        response = self.post_meta(name=name)
        self.assert_ok(response)
        return response

    def test_a_text_message_lands_on_the_timeline(self):
        self.post("text")
        entry = self.only_entry()
        self.assertEqual(entry.kind, "inbound")
        self.assertEqual(entry.channel, "whatsapp")
        self.assertEqual(entry.body, "Hi, my order #1001 has not arrived.")
        self.assertEqual(entry.provider_id, WAMID + "01")
        self.assertEqual(entry.occurred_at.isoformat(), "2025-02-12T00:43:44+00:00")
        self.assertEqual(entry.parameters["wa_id"], "16505551234")
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Sheena Nelson")
        self.assertEqual(
            sorted(contact.identities.values_list("kind", "value")),
            [("phone", "+16505551234"), ("whatsapp", "US.13491208655302741918")],
        )
        event = InboundEvent.objects.get()
        self.assertEqual(event.status, "processed")
        self.assertEqual(event.contact, contact)
        self.assertEqual(Conversation.objects.get().team, self.support)

    def test_a_replayed_post_is_one_event_and_one_message(self):
        for _ in range(3):
            self.post("text")
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_the_same_message_in_another_batch_is_still_one_message(self):
        self.post("text")
        payload = fixture("whatsapp_cloud", "text")
        payload["entry"][0]["time"] = 1  # a different body: a new event, the same wamid
        self.assert_ok(self.post_meta(payload))
        self.assertEqual(InboundEvent.objects.count(), 2)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_a_reply_to_our_message_joins_its_conversation(self):
        self.post("text")
        conversation = Conversation.objects.get()
        Entry.objects.filter(kind="inbound").update(provider_id="wamid.OUTBOUND-1")
        actions.set_status(conversation, None, "resolved")
        self.post("text_reply_context")
        entry = Entry.objects.get(provider_id=WAMID + "02")
        self.assertEqual(entry.conversation, conversation)
        self.assertEqual(entry.parameters["reply_to"], "wamid.OUTBOUND-1")

    def test_an_image_is_recorded_and_downloaded_with_the_token(self):
        def graph(request):
            if request.url.path.endswith("/1003383421387256"):
                return httpx.Response(
                    200,
                    json={
                        "messaging_product": "whatsapp",
                        "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256&ext=1",
                        "mime_type": "image/jpeg",
                        "sha256": "abc",
                        "file_size": 7,
                        "id": "1003383421387256",
                    },
                )
            return httpx.Response(200, content=b"JPEGDATA", headers={"Content-Type": "image/jpeg"})

        self.http.responder = graph
        self.post("image")
        entry = self.only_entry()
        self.assertEqual(entry.body, "The broken box")
        attachment = Attachment.objects.get()
        self.assertEqual(attachment.entry, entry)
        self.assertEqual(attachment.content_type, "image/jpeg")
        self.assertEqual(attachment.source_url, "1003383421387256")
        self.assertEqual(attachment.file.read(), b"JPEGDATA")
        self.assertEqual(attachment.size, 8)
        lookup, download = self.http.requests
        self.assertEqual(str(lookup.url), f"{GRAPH}/1003383421387256")
        self.assertEqual(lookup.method, "GET")
        self.assertEqual(lookup.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")
        self.assertEqual(download.url.host, "lookaside.fbsbx.com")
        self.assertEqual(download.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")

    def test_a_failed_media_download_keeps_the_message(self):
        self.http.responder = lambda r: httpx.Response(
            400, json={"error": {"message": "Invalid media id", "code": 100}}
        )
        self.post("image")
        self.assertEqual(self.only_entry().body, "The broken box")
        attachment = Attachment.objects.get()
        self.assertFalse(attachment.file)
        self.assertEqual(attachment.source_url, "1003383421387256")

    def test_voice_video_document_and_sticker_are_attachments(self):
        self.http.responder = lambda r: httpx.Response(404, json={"error": {"code": 100}})
        for name in ("audio_voice", "video", "document", "sticker"):
            self.post(name)
        rows = {
            a.entry.parameters["type"]: (a.filename, a.content_type, a.source_url)
            for a in Attachment.objects.select_related("entry")
        }
        self.assertEqual(
            rows,
            {
                "audio": (
                    "audio-1003383421387257.ogg",
                    "audio/ogg; codecs=opus",
                    "1003383421387257",
                ),
                "video": ("video-1003383421387258.mp4", "video/mp4", "1003383421387258"),
                "document": ("invoice-1001.pdf", "application/pdf", "1003383421387259"),
                "sticker": ("sticker-1003383421387260.webp", "image/webp", "1003383421387260"),
            },
        )
        voice = Entry.objects.get(parameters__type="audio")
        self.assertTrue(voice.parameters["media"]["voice"])
        self.assertEqual(Entry.objects.get(parameters__type="document").body, "Invoice")

    def test_a_location_reads_as_text_and_keeps_coordinates(self):
        self.post("location")
        entry = self.only_entry()
        self.assertEqual(
            entry.body,
            "Meta Headquarters\n1 Hacker Way, Menlo Park, CA 94025\n"
            "Location: 37.483307, -122.148981",
        )
        self.assertEqual(entry.parameters["location"]["latitude"], 37.483307)

    def test_shared_contacts_are_summarized(self):
        self.post("contacts")
        entry = self.only_entry()
        self.assertEqual(
            entry.body, "Contact: Barbara J. Johnson, +1 (940) 555-1234, bjohnson@example.com"
        )
        self.assertEqual(entry.parameters["contacts"][0]["phones"][0]["wa_id"], "19405551234")
        # The card's number is not the sender's: still one contact.
        self.assertEqual(Contact.objects.count(), 1)

    def test_interactive_replies_and_template_buttons(self):
        self.post("interactive_button_reply")
        self.post("interactive_list_reply")
        self.post("button")
        button_reply = Entry.objects.get(provider_id=WAMID + "10")
        self.assertEqual(button_reply.body, "Refund please")
        self.assertEqual(button_reply.parameters["reply"]["id"], "refund")
        list_reply = Entry.objects.get(provider_id=WAMID + "11")
        self.assertEqual(list_reply.body, "Medium")
        self.assertEqual(list_reply.parameters["reply"]["description"], "Chest 96-101 cm")
        button = Entry.objects.get(provider_id=WAMID + "12")
        self.assertEqual(button.body, "Confirm")
        self.assertEqual(button.parameters["button"]["payload"], "CONFIRM_DELIVERY")

    def test_a_reaction_is_a_small_automatic_entry(self):
        self.post("text")
        conversation = Conversation.objects.get()
        waiting = conversation.waiting_since
        self.post("reaction")
        entry = Entry.objects.get(provider_id=WAMID + "13")
        self.assertEqual(entry.body, "Reacted 👍")
        self.assertTrue(entry.is_auto)
        self.assertEqual(entry.parameters["reaction"]["message_id"], "wamid.OUTBOUND-1")
        conversation.refresh_from_db()
        self.assertEqual(conversation.waiting_since, waiting)

    def test_a_referral_is_kept_with_the_message(self):
        self.post("referral")
        entry = self.only_entry()
        self.assertEqual(entry.body, "I saw your ad")
        self.assertEqual(entry.parameters["referral"]["source_id"], "120226305854810726")

    def test_a_system_message_is_stored_and_ignored(self):
        self.post("system")
        self.assertEqual(InboundEvent.objects.get().status, "ignored")
        self.assertFalse(Entry.objects.exists())

    def test_an_unsupported_message_is_recorded_and_flagged(self):
        self.post("unsupported")
        entry = self.only_entry()
        self.assertTrue(entry.parameters["unsupported"])
        self.assertEqual(entry.parameters["errors"][0]["code"], 131051)
        self.assertIn("unsupported", entry.body)

    def test_an_unknown_message_type_is_recorded_and_flagged_never_a_crash(self):
        payload = fixture("whatsapp_cloud", "text")
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        message["type"] = "hologram"
        message["hologram"] = {"shape": 3}
        self.assert_ok(self.post_meta(payload))
        self.assertEqual(InboundEvent.objects.get().status, "processed")
        self.assertTrue(self.only_entry().parameters["unsupported"])

    def message_of_type(self, kind, obj, wamid):
        payload = fixture("whatsapp_cloud", "text")
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        del message["text"]
        message.update({"type": kind, kind: obj, "id": wamid})
        return payload

    def test_an_edit_is_a_new_entry_pointing_at_the_original(self):
        self.post("text")
        edit = {
            "original_message_id": WAMID + "01",
            "message": {"type": "text", "text": {"body": "Hi, my order #1002 has not arrived."}},
        }
        self.assert_ok(self.post_meta(self.message_of_type("edit", edit, "wamid.EDIT-1")))
        entry = Entry.objects.get(provider_id="wamid.EDIT-1")
        self.assertEqual(entry.body, "Hi, my order #1002 has not arrived.")
        self.assertEqual(entry.parameters["edited"], WAMID + "01")
        self.assertEqual(Entry.objects.get(provider_id=WAMID + "01").body[-12:], "not arrived.")

    def test_a_revoked_message_is_noted_and_the_original_kept(self):
        self.post("text")
        revoke = {"original_message_id": WAMID + "01"}
        self.assert_ok(self.post_meta(self.message_of_type("revoke", revoke, "wamid.REVOKE-1")))
        note = Entry.objects.get(provider_id="wamid.REVOKE-1")
        self.assertTrue(note.is_auto)
        self.assertEqual(note.parameters["revoked"], WAMID + "01")
        self.assertTrue(Entry.objects.filter(provider_id=WAMID + "01").exists())

    def test_an_unknown_field_is_stored_and_ignored(self):
        self.post("unknown_field")
        event = InboundEvent.objects.get()
        self.assertEqual(event.status, "ignored")
        self.assertFalse(Entry.objects.exists())

    def test_another_product_object_is_stored_and_ignored(self):
        self.assert_ok(self.post_meta({"object": "page", "entry": []}))
        self.assertEqual(InboundEvent.objects.get().status, "ignored")

    def test_a_batch_records_every_item_for_this_number_only(self):
        self.post("batch")
        self.assertEqual(
            list(Entry.objects.filter(kind="inbound").values_list("body", flat=True)),
            ["First", "Second"],
        )
        self.assertFalse(Contact.objects.filter(name="Someone Else").exists())
        self.assertEqual(InboundEvent.objects.get().status, "processed")

    def test_a_user_without_a_number_keeps_a_whatsapp_identity(self):
        self.post("bsuid_only")
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Username User")
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")),
            [("whatsapp", "US.99887766554433221100")],
        )

    def test_a_mexican_wa_id_matches_the_e164_number(self):
        self.post("mexico")
        self.assertEqual(
            list(Contact.objects.get().identities.values_list("kind", "value")),
            [("phone", "+525512345678")],
        )


class OneContactAcrossChannelsTests(WhatsAppCloudTestCase):
    def test_whatsapp_cloud_and_sms_from_one_number_are_one_contact(self):
        sms = actions.record_inbound(
            InboundMessage(
                inbox_id=self.api_inbox.pk,
                channel="sms",
                identities=[normalize("phone", "+1 650 555 1234")],
                body="SMS first",
                provider_id="SM0001",
            )
        )
        self.post_meta(name="text")
        whatsapp = self.only_entry(channel="whatsapp")
        self.assertEqual(whatsapp.contact, sms.entry.contact)
        self.assertEqual(Contact.objects.count(), 1)
        self.assertEqual(whatsapp.conversation, sms.entry.conversation)
        # The profile name fills the contact that had none.
        self.assertEqual(Contact.objects.get().name, "Sheena Nelson")


class StatusTests(WhatsAppCloudTestCase):
    def setUp(self):
        self.post_meta(name="text")
        conversation = Conversation.objects.get()
        self.graph_ok({"messages": [{"id": "wamid.OUTBOUND-1"}]})
        with time_machine.travel(INSIDE_WINDOW), self.captureOnCommitCallbacks(execute=True):
            self.reply = actions.reply(conversation, self.alice, "On its way")
        self.reply.refresh_from_db()

    def status_of(self):
        self.reply.refresh_from_db()
        return self.reply.delivery_status

    def test_the_sent_message_id_is_recorded(self):
        self.assertEqual(self.reply.provider_id, "wamid.OUTBOUND-1")
        self.assertEqual(self.reply.delivery_status, "sent")

    def test_delivered_then_read_move_forward(self):
        self.post_meta(name="status_delivered")
        self.assertEqual(self.status_of(), "delivered")
        self.post_meta(name="status_read")
        self.assertEqual(self.status_of(), "read")

    def test_a_late_delivered_after_read_does_not_go_back(self):
        self.post_meta(name="status_read")
        self.post_meta(name="status_delivered")
        self.post_meta(name="status_sent")
        self.assertEqual(self.status_of(), "read")

    def test_failed_records_the_error_on_the_timeline(self):
        self.post_meta(name="status_failed")
        self.assertEqual(self.status_of(), "failed")
        self.assertIn("Re-engagement message (131047)", self.reply.delivery_error)
        self.assertTrue(Entry.objects.filter(event="delivery_failed").exists())

    def test_a_status_for_an_unknown_message_changes_nothing(self):
        payload = fixture("whatsapp_cloud", "status_read")
        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = "wamid.SOMEONE-ELSE"
        self.assert_ok(self.post_meta(payload))
        self.assertEqual(self.status_of(), "sent")


class EchoTests(WhatsAppCloudTestCase):
    def test_a_message_typed_in_the_business_app_is_our_outbound(self):
        self.post_meta(name="text")
        self.post_meta(name="smb_echo")
        echo = Entry.objects.get(kind="outbound")
        self.assertEqual(echo.body, "Answered from the phone app")
        self.assertEqual(echo.channel, "whatsapp")
        self.assertTrue(echo.parameters["echo"])
        self.assertEqual(echo.conversation, Conversation.objects.get())
        self.assertEqual(Contact.objects.count(), 1)

    def test_an_echo_replayed_is_one_entry(self):
        self.post_meta(name="smb_echo")
        self.post_meta(name="smb_echo")
        self.assertEqual(Entry.objects.filter(kind="outbound").count(), 1)


class OutboundTests(WhatsAppCloudTestCase):
    def setUp(self):
        self.post_meta(name="text")
        self.conversation = Conversation.objects.get()

    def reply(self, body="We are on it", at=INSIDE_WINDOW, **kwargs):
        with time_machine.travel(at), self.captureOnCommitCallbacks(execute=True):
            entry = actions.reply(self.conversation, self.alice, body, **kwargs)
        entry.refresh_from_db()
        return entry

    def test_a_text_reply_is_posted_to_the_graph_api(self):
        self.graph_ok({"messages": [{"id": "wamid.REPLY-1"}]})
        entry = self.reply()
        request = self.http.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(str(request.url), f"{GRAPH}/{PNID}/messages")
        self.assertEqual(request.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")
        self.assertEqual(
            json.loads(request.content),
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"body": "We are on it"},
            },
        )
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.provider_id, "wamid.REPLY-1")

    def test_outside_the_window_a_free_form_reply_is_refused_without_calling_meta(self):
        entry = self.reply(at="2025-02-13T01:00:00+00:00")
        self.assertEqual(self.http.requests, [])
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("24 hours", entry.delivery_error)
        self.assertIn("131047", entry.delivery_error)

    def test_the_composer_is_told_why(self):
        from channels_in.registry import adapter_for

        adapter = adapter_for(self.inbox)
        contact_id = self.conversation.contact_id
        with time_machine.travel(INSIDE_WINDOW):
            self.assertEqual(adapter.unavailable_reason("whatsapp", contact_id), "")
        with time_machine.travel("2025-02-13T01:00:00+00:00"):
            self.assertIn("template", adapter.unavailable_reason("whatsapp", contact_id))

    def test_a_template_is_sent_outside_the_window(self):
        self.graph_ok({"messages": [{"id": "wamid.TEMPLATE-1"}]})
        template = {
            "name": "order_update",
            "language": "en_US",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "1001"}]}],
        }
        entry = self.reply(
            "Order update (template)",
            at="2025-02-20T09:00:00+00:00",
            parameters={"template": template},
        )
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.provider_id, "wamid.TEMPLATE-1")
        self.assertEqual(
            json.loads(self.http.requests[0].content),
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "en_US"},
                    "components": template["components"],
                },
            },
        )

    def test_an_image_reply_is_uploaded_then_sent_with_its_caption(self):
        from conversations.inbound import AttachmentRef

        answers = iter(
            [
                httpx.Response(200, json={"id": "media-77"}),
                httpx.Response(200, json={"messages": [{"id": "wamid.IMAGE-1"}]}),
            ]
        )
        self.http.responder = lambda r: next(answers)
        entry = self.reply(
            "Here is the label",
            attachments=[AttachmentRef("label.png", "image/png", content=b"PNGDATA")],
        )
        upload, send = self.http.requests
        self.assertEqual(str(upload.url), f"{GRAPH}/{PNID}/media")
        self.assertEqual(upload.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")
        self.assertIn(b'name="messaging_product"\r\n\r\nwhatsapp', upload.content)
        self.assertIn(b"PNGDATA", upload.content)
        self.assertEqual(
            json.loads(send.content)["image"], {"id": "media-77", "caption": "Here is the label"}
        )
        self.assertEqual(entry.provider_id, "wamid.IMAGE-1")

    def test_a_voice_note_reply_sends_the_text_first_and_only_once(self):
        from conversations.inbound import AttachmentRef

        answers = iter(
            [
                httpx.Response(200, json={"messages": [{"id": "wamid.TEXT-1"}]}),
                httpx.Response(200, json={"id": "media-78"}),
                httpx.Response(200, json={"messages": [{"id": "wamid.AUDIO-1"}]}),
            ]
        )
        self.http.responder = lambda r: next(answers)
        entry = self.reply(
            "Listen to this",
            attachments=[AttachmentRef("note.ogg", "audio/ogg", content=b"OGG")],
        )
        text, upload, audio = self.http.requests
        self.assertEqual(json.loads(text.content)["text"], {"body": "Listen to this"})
        self.assertEqual(str(upload.url), f"{GRAPH}/{PNID}/media")
        self.assertEqual(json.loads(audio.content)["audio"], {"id": "media-78"})
        self.assertEqual(entry.provider_id, "wamid.TEXT-1")

    def test_a_closed_window_error_from_meta_is_permanent(self):
        self.http.responder = lambda r: httpx.Response(
            400,
            json={
                "error": {
                    "message": "(#131047) Re-engagement message",
                    "type": "OAuthException",
                    "code": 131047,
                    "error_data": {"details": "More than 24 hours have passed"},
                }
            },
        )
        entry = self.reply()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertEqual(entry.attempts, 1)
        self.assertIn("131047", entry.delivery_error)

    def test_throttling_is_retried(self):
        answers = iter(
            [
                httpx.Response(400, json={"error": {"message": "Rate limit hit", "code": 130429}}),
                httpx.Response(200, json={"messages": [{"id": "wamid.LATER"}]}),
            ]
        )
        self.http.responder = lambda r: next(answers)
        entry = self.reply()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.attempts, 2)

    def test_the_window_is_per_contact_last_inbound(self):
        # A new customer message re-opens the window a day later.
        later = fixture("whatsapp_cloud", "text")
        message = later["entry"][0]["changes"][0]["value"]["messages"][0]
        message["id"] = "wamid.LATER"
        message["timestamp"] = str(SENT_AT + 2 * 86400)
        self.post_meta(later)
        self.graph_ok({"messages": [{"id": "wamid.REPLY-2"}]})
        entry = self.reply(at="2025-02-14T01:00:00+00:00")
        self.assertEqual(entry.delivery_status, "sent")
