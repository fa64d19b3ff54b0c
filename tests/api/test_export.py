from __future__ import annotations

import json

from conversations import actions
from conversations.export import export_contact
from conversations.models import Contact, Conversation, Entry
from tests.base import HelpdeskTestCase


class ExportContactTests(HelpdeskTestCase):
    def test_it_exports_the_contact_identities_and_every_entry(self) -> None:
        self.post_api(
            {"id": "m1", "contact": {"name": "Ana", "email": "ana@example.com"}, "body": "Hi"}
        )
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            actions.reply(conversation, self.alice, "Hello Ana")
            actions.add_note(conversation, self.alice, "VIP")
            Entry.objects.create(
                conversation=conversation,
                contact_id=conversation.contact_id,
                kind=Entry.Kind.EVENT,
                event="survey_answered",
                parameters={"survey": "csat", "score": 5},
            )
        contact = Contact.objects.get()
        with self.assertNumQueries(6):
            data = export_contact(contact)
        json.dumps(data)  # JSON-ready as it is
        self.assertEqual(data["contact"]["name"], "Ana")
        self.assertEqual(data["identities"][0]["value"], "ana@example.com")
        [exported] = data["conversations"]
        kinds = [e["kind"] for e in exported["entries"]]
        self.assertEqual(kinds[0], "inbound")
        self.assertIn("outbound", kinds)
        self.assertIn("note", kinds)
        outbound = next(e for e in exported["entries"] if e["kind"] == "outbound")
        self.assertEqual(outbound["author"]["email"], "alice@example.org")
        self.assertEqual(outbound["body"], "Hello Ana")
        self.assertIn(outbound["delivery_status"], ("queued", "sent", "sending"))
        self.assertEqual(outbound["channel"], "api")
        self.assertEqual(exported["surveys"][0]["survey"], "csat")
        self.assertEqual(exported["surveys"][0]["score"], 5)
