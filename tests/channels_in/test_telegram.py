from __future__ import annotations

import json
from typing import Any

import httpx
from django.test import override_settings

from channels_in import actions as channel_actions
from channels_in.base import ChannelError
from channels_in.models import InboundEvent, Inbox
from channels_in.registry import adapter_for
from conversations import actions
from conversations.inbound import AttachmentRef
from conversations.models import Attachment, Contact, Conversation, Entry
from tests.base import HelpdeskTestCase
from tests.channels_in.social_base import fixture

BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"  # noqa: S105
SECRET = "tg-secret_token-1"  # noqa: S105
API = f"https://api.telegram.org/bot{BOT_TOKEN}"
USER_ID = "123456789"


class TelegramTestCase(HelpdeskTestCase):
    inbox: Inbox

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.inbox = channel_actions.create_inbox(
            "telegram",
            "tg",
            team_id=cls.support.pk,
            values={"bot_token": BOT_TOKEN, "secret_token": SECRET},
        )

    def post_update(
        self, name: str = "", *, payload: Any = None, secret: str | None = SECRET, raw: bytes = b""
    ) -> Any:
        body = raw or json.dumps(payload if payload is not None else fixture("telegram", name))
        headers: dict[str, Any] = (
            {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
        )
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                "/hooks/telegram/tg/", data=body, content_type="application/json", **headers
            )

    def post(self, name: str) -> Any:
        response = self.post_update(name)
        self.assertEqual(response.status_code, 200, response.content)
        return response

    def only_entry(self, **filters: Any) -> Entry:
        return Entry.objects.get(kind__in=("inbound", "outbound"), **filters)


class VerificationTests(TelegramTestCase):
    def assert_nothing_stored(self):
        self.assertFalse(InboundEvent.objects.exists())
        self.assertFalse(Entry.objects.exists())
        self.assertFalse(Contact.objects.exists())

    def test_a_post_without_the_secret_header_is_refused(self):
        self.assertEqual(self.post_update("text", secret=None).status_code, 403)
        self.assert_nothing_stored()

    def test_a_wrong_secret_is_refused(self):
        self.assertEqual(self.post_update("text", secret="guess").status_code, 403)
        self.assert_nothing_stored()

    def test_an_inbox_without_a_secret_fails_closed(self):
        channel_actions.create_inbox("telegram", "open", values={"bot_token": BOT_TOKEN})
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                "/hooks/telegram/open/",
                data=json.dumps(fixture("telegram", "text")),
                content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="",
            )
        self.assertEqual(response.status_code, 403)
        self.assert_nothing_stored()

    def test_an_update_without_update_id_is_400(self):
        response = self.post_update(payload={"message": {}})
        self.assertEqual(response.status_code, 400)
        self.assertIn("update_id", response.json()["error"])
        self.assertFalse(InboundEvent.objects.exists())

    def test_get_is_not_allowed(self):
        self.assertEqual(self.client.get("/hooks/telegram/tg/").status_code, 405)


class InboundTests(TelegramTestCase):
    def test_a_text_message_lands_on_the_timeline(self):
        self.post("text")
        entry = self.only_entry()
        self.assertEqual(
            (entry.kind, entry.channel, entry.body, entry.provider_id),
            ("inbound", "telegram", "Dobar dan, where is my parcel?", f"{USER_ID}:11"),
        )
        self.assertEqual(entry.occurred_at.isoformat(), "2025-02-12T00:43:44+00:00")
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Ivana Horvat")
        self.assertEqual(
            list(contact.identities.values_list("kind", "value")), [("telegram", USER_ID)]
        )
        event = InboundEvent.objects.get()
        self.assertEqual((event.provider_event_id, event.status), ("update:900000001", "processed"))

    def test_a_replayed_update_is_one_event_and_one_message(self):
        for _ in range(3):
            self.post("text")
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.count(), 1)

    def test_the_same_message_under_another_update_id_is_one_message(self):
        self.post("text")
        payload = fixture("telegram", "text")
        payload["update_id"] = 900000099
        self.post_update(payload=payload)
        self.assertEqual(InboundEvent.objects.count(), 2)
        self.assertEqual(Entry.objects.count(), 1)

    def test_the_largest_photo_is_downloaded_through_get_file(self):
        def bot_api(request):
            if request.url.path.endswith("/getFile"):
                return httpx.Response(
                    200,
                    json={
                        "ok": True,
                        "result": {
                            "file_id": "AgACAgQAAxkBAAIBsmS-large",
                            "file_unique_id": "AQADlarge",
                            "file_size": 80000,
                            "file_path": "photos/file_7.jpg",
                        },
                    },
                )
            return httpx.Response(200, content=b"TGPHOTO")

        self.http.responder = bot_api
        self.post("photo")
        entry = self.only_entry()
        self.assertEqual(entry.body, "Damaged")
        attachment = Attachment.objects.get()
        self.assertEqual(attachment.source_url, "AgACAgQAAxkBAAIBsmS-large")
        self.assertEqual(
            (attachment.filename, attachment.content_type), ("photo-AQADlarge.jpg", "image/jpeg")
        )
        self.assertEqual(attachment.file.read(), b"TGPHOTO")
        get_file, download = self.http.requests
        self.assertEqual(str(get_file.url), f"{API}/getFile")
        self.assertEqual(json.loads(get_file.content), {"file_id": "AgACAgQAAxkBAAIBsmS-large"})
        self.assertEqual(
            str(download.url), f"https://api.telegram.org/file/bot{BOT_TOKEN}/photos/file_7.jpg"
        )

    def test_documents_and_voice_notes_are_attachments(self):
        self.http.responder = lambda r: httpx.Response(
            400,
            json={"ok": False, "error_code": 400, "description": "Bad Request: file is too big"},
        )
        self.post("document")
        self.post("voice")
        rows = list(Attachment.objects.values_list("filename", "content_type", "source_url"))
        self.assertEqual(
            rows,
            [
                ("receipt.pdf", "application/pdf", "BQACAgQAAxkBAAIBs2doc"),
                ("voice.ogg", "audio/ogg", "AwACAgQAAxkBAAIBtHvoice"),
            ],
        )

    def test_a_location_reads_as_text_and_keeps_coordinates(self):
        self.post("location")
        entry = self.only_entry()
        self.assertEqual(entry.body, "Location: 45.815011, 15.981919")
        self.assertEqual(entry.parameters["location"]["longitude"], 15.981919)

    def test_an_edit_is_a_new_entry_flagged_and_next_to_the_original(self):
        self.post("text")
        self.post("edited")
        original = Entry.objects.get(provider_id=f"{USER_ID}:11")
        edit = Entry.objects.get(provider_id=f"{USER_ID}:11:edit:1739321084")
        self.assertEqual(original.body, "Dobar dan, where is my parcel?")
        self.assertEqual(edit.body, "Dobar dan, where is my parcel #77?")
        self.assertEqual(edit.parameters["edited"], f"{USER_ID}:11")
        self.assertEqual(edit.conversation, original.conversation)
        self.assertEqual(edit.occurred_at.isoformat(), "2025-02-12T00:44:44+00:00")

    def test_a_reply_to_our_message_joins_its_conversation(self):
        self.post("text")
        conversation = Conversation.objects.get()
        Entry.objects.filter(kind="inbound").update(provider_id=f"{USER_ID}:500")
        actions.set_status(conversation, None, "resolved")
        self.post("reply")
        self.assertEqual(Entry.objects.get(provider_id=f"{USER_ID}:16").conversation, conversation)

    def test_an_unsupported_message_is_recorded_and_flagged(self):
        self.post("sticker")
        self.assertTrue(self.only_entry().parameters["unsupported"])

    def test_group_messages_and_callback_queries_are_stored_and_ignored(self):
        self.post("group")
        self.post("callback_query")
        self.assertEqual(
            list(InboundEvent.objects.values_list("status", flat=True)), ["ignored", "ignored"]
        )
        self.assertFalse(Entry.objects.exists())


class OutboundTests(TelegramTestCase):
    def setUp(self):
        self.post("text")
        self.conversation = Conversation.objects.get()

    def reply(self, body="Your parcel ships today", **kwargs):
        with self.captureOnCommitCallbacks(execute=True):
            entry = actions.reply(self.conversation, self.alice, body, **kwargs)
        entry.refresh_from_db()
        return entry

    def answer(self, message_id):
        self.http.responder = lambda r: httpx.Response(
            200,
            json={"ok": True, "result": {"message_id": message_id, "chat": {"id": 123456789}}},
        )

    def test_a_text_reply_uses_send_message(self):
        self.answer(501)
        entry = self.reply()
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{API}/sendMessage")
        self.assertEqual(
            json.loads(request.content), {"chat_id": USER_ID, "text": "Your parcel ships today"}
        )
        self.assertEqual((entry.delivery_status, entry.provider_id), ("sent", f"{USER_ID}:501"))

    def test_an_image_reply_uses_send_photo_with_the_caption(self):
        self.answer(502)
        entry = self.reply(
            "The label", attachments=[AttachmentRef("label.png", "image/png", content=b"PNG")]
        )
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{API}/sendPhoto")
        self.assertIn(b'name="chat_id"\r\n\r\n123456789', request.content)
        self.assertIn(b'name="caption"\r\n\r\nThe label', request.content)
        self.assertIn(b'name="photo"; filename="label.png"', request.content)
        self.assertEqual(entry.provider_id, f"{USER_ID}:502")

    def test_a_text_too_long_for_a_caption_is_sent_on_its_own(self):
        self.answer(505)
        body = "x" * 1500
        self.reply(body, attachments=[AttachmentRef("a.png", "image/png", content=b"PNG")])
        text, photo = self.http.requests
        self.assertEqual(json.loads(text.content), {"chat_id": USER_ID, "text": body})
        self.assertEqual(str(photo.url), f"{API}/sendPhoto")
        self.assertNotIn(b'name="caption"', photo.content)

    def test_a_file_reply_uses_send_document(self):
        self.answer(503)
        self.reply(
            "", attachments=[AttachmentRef("invoice.pdf", "application/pdf", content=b"%PDF")]
        )
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{API}/sendDocument")
        self.assertIn(b'name="document"; filename="invoice.pdf"', request.content)

    def test_a_blocked_bot_fails_permanently(self):
        self.http.responder = lambda r: httpx.Response(
            403,
            json={
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        )
        entry = self.reply()
        self.assertEqual((entry.delivery_status, entry.attempts), ("failed", 1))
        self.assertIn("bot was blocked", entry.delivery_error)
        self.assertNotIn(BOT_TOKEN, entry.delivery_error)

    def test_flood_control_is_retried(self):
        answers = iter(
            [
                httpx.Response(
                    429,
                    json={
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 3",
                        "parameters": {"retry_after": 3},
                    },
                ),
                httpx.Response(200, json={"ok": True, "result": {"message_id": 504}}),
            ]
        )
        self.http.responder = lambda r: next(answers)
        entry = self.reply()
        self.assertEqual((entry.delivery_status, entry.attempts), ("sent", 2))


class InstallTests(TelegramTestCase):
    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_install_points_the_bot_at_this_inbox(self):
        self.http.responder = lambda r: httpx.Response(
            200, json={"ok": True, "result": True, "description": "Webhook was set"}
        )
        lines = adapter_for(self.inbox).install()
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{API}/setWebhook")
        self.assertEqual(
            json.loads(request.content),
            {
                "url": "https://help.example.com/hooks/telegram/tg/",
                "secret_token": SECRET,
                "allowed_updates": ["message", "edited_message"],
            },
        )
        self.assertEqual(
            lines[0], "Telegram webhook set to https://help.example.com/hooks/telegram/tg/"
        )

    @override_settings(PUBLIC_URL="")
    def test_install_without_public_url_says_so(self):
        with self.assertRaisesMessage(ChannelError, "PUBLIC_URL is not set"):
            adapter_for(self.inbox).install()
        self.assertEqual(self.http.requests, [])

    @override_settings(PUBLIC_URL="https://help.example.com")
    def test_a_refused_set_webhook_raises(self):
        self.http.responder = lambda r: httpx.Response(
            400,
            json={
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: bad webhook: HTTPS url must be provided for webhook",
            },
        )
        with self.assertRaisesMessage(ChannelError, "bad webhook"):
            adapter_for(self.inbox).install()

    def test_the_webhook_path(self):
        self.assertEqual(adapter_for(self.inbox).webhook_paths(), ["/hooks/telegram/tg/"])
