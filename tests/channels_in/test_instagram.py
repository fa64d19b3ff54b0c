from __future__ import annotations

import json

import httpx
import time_machine

from channels_in.models import InboundEvent
from conversations import actions
from conversations.models import Attachment, Contact, Conversation, Entry
from tests.channels_in.social_base import ACCESS_TOKEN, APP_SECRET, MetaTestCase

IG = "17841405822304914"
IGSID = "1234567890123456"
MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk2"
)
INSIDE_24H = "2025-02-12T10:00:00+00:00"


class InstagramTestCase(MetaTestCase):
    kind = "instagram"
    slug = "ig"
    channel = "instagram"
    config = {"instagram_id": IG, "graph_url": "https://graph.instagram.com"}  # noqa: RUF012

    def post(self, name):
        response = self.post_meta(name=name)
        self.assert_ok(response)
        return response


class InboundTests(InstagramTestCase):
    def test_a_text_message_lands_on_the_timeline(self):
        self.post("text")
        entry = self.only_entry()
        self.assertEqual(
            (entry.kind, entry.channel, entry.body, entry.provider_id),
            ("inbound", "instagram", "Hi from Instagram", MID + "01"),
        )
        self.assertEqual(
            list(Contact.objects.get().identities.values_list("kind", "value")),
            [("instagram", IGSID)],
        )

    def test_the_profile_name_fills_the_new_contact(self):
        self.graph_ok({"name": "Ana Kovač", "username": "ana.k", "id": IGSID})
        self.post("text")
        self.assertEqual(Contact.objects.get().name, "Ana Kovač")
        self.assertEqual(
            str(self.http.requests[0].url),
            f"https://graph.instagram.com/v25.0/{IGSID}?fields=name%2Cusername",
        )

    def test_a_forged_or_unsigned_post_is_refused(self):
        self.assertEqual(self.post_meta(name="text", secret="x" + APP_SECRET).status_code, 403)
        self.assertEqual(self.post_meta(name="text", secret=None).status_code, 403)
        self.assert_nothing_stored()

    def test_a_replay_is_one_message(self):
        self.post("text")
        self.post("text")
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.count(), 1)

    def test_an_image_is_downloaded_from_the_cdn(self):
        self.http.responder = lambda r: httpx.Response(
            200, content=b"IGIMAGE", headers={"Content-Type": "image/png"}
        )
        self.post("image")
        attachment = Attachment.objects.get()
        self.assertEqual(attachment.filename, "image-1.jpg")
        self.assertEqual(
            (attachment.content_type, attachment.file.read()), ("image/png", b"IGIMAGE")
        )
        self.assertEqual(self.http.requests[-1].url.host, "lookaside.fbsbx.com")

    def test_a_story_mention_is_recorded_with_its_link(self):
        self.post("story_mention")
        entry = self.only_entry()
        self.assertEqual(entry.body, "Mentioned you in their story.")
        self.assertEqual(entry.parameters["shared"][0]["type"], "story_mention")
        self.assertIn("asset_id=18000", entry.parameters["shared"][0]["url"])
        self.assertFalse(Attachment.objects.exists())

    def test_a_story_reply_keeps_the_story(self):
        self.post("story_reply")
        entry = self.only_entry()
        self.assertEqual(entry.body, "Love this!")
        self.assertEqual(entry.parameters["story_reply"]["id"], "17920000000000001")

    def test_a_shared_post_is_kept_as_a_link(self):
        self.post("share")
        entry = self.only_entry()
        self.assertEqual(
            entry.parameters["shared"][0]["url"], "https://www.instagram.com/p/Cabc123/"
        )

    def test_quick_replies_and_postbacks(self):
        self.post("quick_reply")
        self.post("postback")
        self.assertEqual(Entry.objects.get(provider_id=MID + "07").parameters["quick_reply"], "YES")
        self.assertEqual(Entry.objects.get(provider_id=MID + "08").body, "Track my order")

    def test_an_unsupported_message_is_recorded_and_flagged(self):
        self.post("unsupported")
        self.assertTrue(self.only_entry().parameters["unsupported"])

    def test_an_echo_from_the_instagram_app_is_our_outbound(self):
        self.post("text")
        self.post("echo")
        echo = Entry.objects.get(kind="outbound")
        self.assertEqual(echo.body, "Sent from the Instagram app")
        self.assertEqual(echo.contact, Contact.objects.get())
        self.assertTrue(echo.parameters["echo"])

    def test_reactions_and_their_removal(self):
        self.post("reaction")
        self.post("unreaction")
        bodies = list(Entry.objects.order_by("occurred_at").values_list("body", "is_auto"))
        self.assertEqual(bodies, [("Reacted ❤", True), ("Removed a reaction", True)])

    def test_an_unsent_message_is_noted_and_the_original_kept(self):
        self.post("text")
        self.post("deleted")
        original = Entry.objects.get(provider_id=MID + "01")
        self.assertEqual(original.body, "Hi from Instagram")
        note = Entry.objects.get(provider_id=MID + "01:deleted")
        self.assertEqual(note.parameters["deleted"], MID + "01")
        self.assertTrue(note.is_auto)
        self.assertEqual(note.conversation, original.conversation)

    def test_seen_marks_our_message_read(self):
        self.post("text")
        self.graph_ok({"recipient_id": IGSID, "message_id": "ig-OUTBOUND-1"})
        with time_machine.travel(INSIDE_24H), self.captureOnCommitCallbacks(execute=True):
            reply = actions.reply(Conversation.objects.get(), self.alice, "Thanks!")
        self.post("seen")
        reply.refresh_from_db()
        self.assertEqual(reply.delivery_status, "read")


class OutboundTests(InstagramTestCase):
    def test_a_reply_goes_to_the_instagram_messages_edge(self):
        self.post("text")
        self.http.requests.clear()  # the profile lookup of the new sender
        self.graph_ok({"recipient_id": IGSID, "message_id": "ig-REPLY-1"})
        with time_machine.travel(INSIDE_24H), self.captureOnCommitCallbacks(execute=True):
            entry = actions.reply(Conversation.objects.get(), self.alice, "Hello!")
        request = self.http.requests[0]
        self.assertEqual(str(request.url), f"https://graph.instagram.com/v25.0/{IG}/messages")
        self.assertEqual(request.headers["Authorization"], f"Bearer {ACCESS_TOKEN}")
        self.assertEqual(
            json.loads(request.content),
            {
                "recipient": {"id": IGSID},
                "messaging_type": "RESPONSE",
                "message": {"text": "Hello!"},
            },
        )
        entry.refresh_from_db()
        self.assertEqual(entry.provider_id, "ig-REPLY-1")

    def test_no_reply_to_someone_who_never_wrote(self):
        from channels_in.registry import adapter_for

        contact = Contact.objects.create(name="Stranger")
        reason = adapter_for(self.inbox).unavailable_reason("instagram", contact.pk)
        self.assertIn("wrote to it first", reason)
