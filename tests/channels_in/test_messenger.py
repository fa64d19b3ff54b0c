from __future__ import annotations

import json

import httpx
import time_machine

from channels_in.models import InboundEvent, Inbox
from conversations import actions
from conversations.inbound import AttachmentRef
from conversations.models import Attachment, Contact, Conversation, Entry
from tests.channels_in.social_base import (
    ACCESS_TOKEN,
    GRAPH,
    VERIFY_TOKEN,
    MetaTestCase,
)

PAGE = "108432761234567"
PSID = "6123456789012345"
MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
# The fixtures' time (2025-02-12 00:43:44 UTC) and moments after it.
INSIDE_24H = "2025-02-12T10:00:00+00:00"
INSIDE_7D = "2025-02-15T10:00:00+00:00"
AFTER_7D = "2025-02-20T10:00:00+00:00"


class MessengerTestCase(MetaTestCase):
    kind = "messenger"
    slug = "fb"
    channel = "messenger"
    config = {"page_id": PAGE}  # noqa: RUF012

    def post(self, name):
        response = self.post_meta(name=name)
        self.assert_ok(response)
        return response


class WebhookTests(MessengerTestCase):
    def test_the_handshake_answers_the_challenge(self):
        response = self.client.get(
            "/hooks/meta/fb/",
            {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        )
        self.assertEqual((response.status_code, response.content), (200, b"42"))

    def test_a_forged_post_is_refused_and_nothing_stored(self):
        self.assertEqual(self.post_meta(name="text", secret="forged").status_code, 403)
        self.assertEqual(self.post_meta(name="text", secret=None).status_code, 403)
        self.assert_nothing_stored()

    def test_a_text_message_lands_on_the_timeline(self):
        self.post("text")
        entry = self.only_entry()
        self.assertEqual(
            (entry.kind, entry.channel, entry.body, entry.provider_id),
            ("inbound", "messenger", "Hello from Messenger", MID + "01"),
        )
        self.assertEqual(entry.occurred_at.isoformat(), "2025-02-12T00:43:44+00:00")
        self.assertEqual(entry.parameters["sender_id"], PSID)
        self.assertEqual(
            list(Contact.objects.get().identities.values_list("kind", "value")),
            [("messenger", PSID)],
        )

    def test_the_profile_name_of_a_new_sender_is_looked_up_once(self):
        self.graph_ok({"first_name": "Peter", "last_name": "Chang", "id": PSID})
        self.post("text")
        self.post("quick_reply")
        self.assertEqual(Contact.objects.get().name, "Peter Chang")
        self.assertEqual(len(self.http.requests), 1)
        request = self.http.requests[0]
        self.assertEqual(request.method, "GET")
        self.assertEqual(str(request.url), f"{GRAPH}/{PSID}?fields=first_name%2Clast_name")
        self.assertEqual(request.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")

    def test_a_failed_profile_lookup_leaves_the_name_empty(self):
        self.http.responder = lambda r: httpx.Response(
            400, json={"error": {"message": "No permission", "code": 10}}
        )
        self.post("text")
        self.assertEqual(Contact.objects.get().name, "")
        self.assertEqual(self.only_entry().body, "Hello from Messenger")

    def test_a_replay_is_one_message(self):
        self.post("text")
        self.post("text")
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.count(), 1)

    def test_attachments_are_recorded_and_downloaded_without_our_token(self):
        self.http.responder = lambda r: httpx.Response(
            200,
            content=b"BYTES",
            headers={"Content-Type": "application/pdf" if ".pdf" in r.url.path else "image/jpeg"},
        )
        self.post("attachments")
        entry = self.only_entry()
        rows = list(Attachment.objects.values_list("filename", "content_type", "size"))
        self.assertEqual(
            rows, [("photo_123.jpg", "image/jpeg", 5), ("receipt.pdf", "application/pdf", 5)]
        )
        self.assertEqual(entry.attachments.count(), 2)
        downloads = [r for r in self.http.requests if r.url.host != "graph.facebook.com"]
        self.assertEqual(
            [r.url.host for r in downloads], ["scontent.xx.fbcdn.net", "cdn.fbsbx.com"]
        )
        self.assertNotIn("Authorization", downloads[0].headers)

    def test_a_quick_reply_keeps_its_payload(self):
        self.post("quick_reply")
        entry = self.only_entry()
        self.assertEqual((entry.body, entry.parameters["quick_reply"]), ("Red", "COLOR_RED"))

    def test_a_postback_is_a_message_with_its_payload(self):
        self.post("postback")
        entry = self.only_entry()
        self.assertEqual(entry.body, "Talk to a human")
        self.assertEqual(entry.provider_id, MID + "04")
        self.assertEqual(entry.parameters["postback"]["payload"], "HUMAN")

    def test_a_reaction_is_a_small_automatic_entry(self):
        self.post("reaction")
        entry = self.only_entry()
        self.assertTrue(entry.is_auto)
        self.assertEqual(entry.body, "Reacted ❤️")
        self.assertEqual(entry.parameters["reaction"]["message_id"], "m_OUTBOUND-1")
        self.assertIsNone(entry.conversation.waiting_since)

    def test_a_standby_message_is_recorded_and_marked(self):
        self.post("standby")
        self.assertTrue(self.only_entry().parameters["standby"])

    def test_a_reply_to_our_message_joins_its_conversation(self):
        self.post("text")
        conversation = Conversation.objects.get()
        Entry.objects.filter(kind="inbound").update(provider_id="m_OUTBOUND-1")
        actions.set_status(conversation, None, "resolved")
        self.post("reply_to")
        self.assertEqual(Entry.objects.get(provider_id=MID + "07").conversation, conversation)

    def test_another_pages_events_are_ignored(self):
        self.post("other_page")
        self.assertEqual(InboundEvent.objects.get().status, "ignored")
        self.assertFalse(Entry.objects.exists())

    def test_an_unknown_event_is_stored_and_ignored(self):
        self.post("optin")
        self.assertEqual(InboundEvent.objects.get().status, "ignored")
        self.assertFalse(Contact.objects.exists())


class EchoAndStatusTests(MessengerTestCase):
    def setUp(self):
        self.post("text")
        self.conversation = Conversation.objects.get()

    def test_an_echo_from_meta_business_suite_is_our_outbound(self):
        self.post("echo")
        echo = Entry.objects.get(kind="outbound")
        self.assertEqual(echo.body, "Answered from Meta Business Suite")
        self.assertEqual(echo.conversation, self.conversation)
        self.assertEqual(echo.parameters["app_id"], 263902037430900)
        self.assertEqual(Contact.objects.count(), 1)

    def test_an_echo_sent_by_our_own_app_is_skipped(self):
        Inbox.objects.filter(pk=self.inbox.pk).update(
            config={"page_id": PAGE, "app_id": "263902037430900"}
        )
        self.post("echo")
        self.assertFalse(Entry.objects.filter(kind="outbound").exists())
        self.assertEqual(InboundEvent.objects.filter(status="ignored").count(), 1)

    def test_the_echo_of_our_own_reply_is_not_a_second_message(self):
        self.graph_ok({"recipient_id": PSID, "message_id": MID + "05"})
        with time_machine.travel(INSIDE_24H), self.captureOnCommitCallbacks(execute=True):
            actions.reply(self.conversation, self.alice, "Answered from Meta Business Suite")
        self.post("echo")
        self.assertEqual(Entry.objects.filter(kind="outbound").count(), 1)

    def test_delivery_and_read_watermarks_move_our_messages_forward(self):
        replies = []
        for n, body in enumerate(["one", "two"]):
            self.graph_ok({"recipient_id": PSID, "message_id": f"m_OUTBOUND-{n}"})
            with (
                time_machine.travel(f"2025-02-12T00:5{n}:00+00:00"),
                self.captureOnCommitCallbacks(execute=True),
            ):
                replies.append(actions.reply(self.conversation, self.alice, body))
        self.post("delivery")  # mids [m_OUTBOUND-1], watermark 00:51:40
        statuses = [Entry.objects.get(pk=r.pk).delivery_status for r in replies]
        self.assertEqual(statuses, ["delivered", "delivered"])
        self.post("read")  # watermark 00:53:20
        statuses = [Entry.objects.get(pk=r.pk).delivery_status for r in replies]
        self.assertEqual(statuses, ["read", "read"])


class OutboundTests(MessengerTestCase):
    def setUp(self):
        self.post("text")
        self.conversation = Conversation.objects.get()
        self.http.requests.clear()  # the profile lookup of the new sender

    def reply(self, at, body="We are on it", **kwargs):
        with time_machine.travel(at), self.captureOnCommitCallbacks(execute=True):
            entry = actions.reply(self.conversation, self.alice, body, **kwargs)
        entry.refresh_from_db()
        return entry

    def test_a_reply_inside_24_hours_is_a_response(self):
        self.graph_ok({"recipient_id": PSID, "message_id": "m_REPLY-1"})
        entry = self.reply(INSIDE_24H)
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{GRAPH}/{PAGE}/messages")
        self.assertEqual(request.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")
        self.assertEqual(
            json.loads(request.content),
            {
                "recipient": {"id": PSID},
                "messaging_type": "RESPONSE",
                "message": {"text": "We are on it"},
            },
        )
        self.assertEqual((entry.delivery_status, entry.provider_id), ("sent", "m_REPLY-1"))

    def test_a_long_reply_is_sent_in_pieces_the_send_api_accepts(self):
        self.graph_ok({"recipient_id": PSID, "message_id": "m_PART"})
        entry = self.reply(INSIDE_24H, "word " * 500)
        texts = [json.loads(r.content)["message"]["text"] for r in self.http.requests]
        self.assertEqual(len(texts), 2)
        self.assertTrue(all(len(t) <= 2000 for t in texts))
        self.assertEqual(" ".join(texts), ("word " * 500).strip())
        self.assertEqual(entry.provider_id, "m_PART")

    def test_a_reply_after_24_hours_carries_the_human_agent_tag(self):
        self.graph_ok({"recipient_id": PSID, "message_id": "m_REPLY-2"})
        self.reply(INSIDE_7D)
        sent = json.loads(self.http.requests[0].content)
        self.assertEqual((sent["messaging_type"], sent["tag"]), ("MESSAGE_TAG", "HUMAN_AGENT"))

    def test_a_reply_after_7_days_is_refused_with_the_reason(self):
        entry = self.reply(AFTER_7D)
        self.assertEqual(self.http.requests, [])
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("7 days", entry.delivery_error)
        from channels_in.registry import adapter_for

        with time_machine.travel(AFTER_7D):
            reason = adapter_for(self.inbox).unavailable_reason("messenger", entry.contact_id)
        self.assertIn("7 days", reason)

    def test_an_attachment_is_uploaded_with_the_message(self):
        self.graph_ok({"recipient_id": PSID, "message_id": "m_FILE-1"})
        entry = self.reply(
            INSIDE_24H, "", attachments=[AttachmentRef("label.pdf", "application/pdf", b"%PDF-1")]
        )
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"{GRAPH}/{PAGE}/messages")
        self.assertTrue(request.headers["Content-Type"].startswith("multipart/form-data"))
        self.assertIn(b'{"type": "file", "payload": {"is_reusable": false}}', request.content)
        self.assertIn(b'name="filedata"; filename="label.pdf"', request.content)
        self.assertIn(b"%PDF-1", request.content)
        self.assertEqual(entry.provider_id, "m_FILE-1")

    def test_a_graph_auth_error_fails_permanently(self):
        self.http.responder = lambda r: httpx.Response(
            400,
            json={"error": {"message": "Invalid OAuth access token.", "code": 190}},
        )
        entry = self.reply(INSIDE_24H)
        self.assertEqual((entry.delivery_status, entry.attempts), ("failed", 1))
        self.assertIn("Graph API error 190", entry.delivery_error)

    def test_a_graph_outage_is_retried(self):
        answers = iter([httpx.Response(500), httpx.Response(200, json={"message_id": "m_LATER"})])
        self.http.responder = lambda r: next(answers)
        entry = self.reply(INSIDE_24H)
        self.assertEqual((entry.delivery_status, entry.attempts), ("sent", 2))
