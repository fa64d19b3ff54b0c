from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from conversations import actions
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Contact, Conversation, Entry, Identity
from tests.base import HelpdeskTestCase


class ContactSidebarTests(HelpdeskTestCase):
    def inbound(self, email: str, name: str, body: str = "Hi", team: int | None = -1) -> Entry:
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            channel="api",
            identities=[IdentityRef("email", email)],
            team_id=self.support.pk if team == -1 else team,
            body=body,
            contact_name=name,
        )
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg).entry

    def setUp(self) -> None:
        self.entry = self.inbound("ana@example.com", "Ana")
        self.contact = self.entry.contact
        self.page = f"/inbox/c/{self.entry.conversation_id}/"
        self.client.force_login(self.alice)

    def test_the_sidebar_shows_identities_attributes_and_previous_conversations(self):
        actions.update_contact(self.contact, attributes={"plan": "Gold"})
        long_ago = timezone.now() - timedelta(days=30)
        actions.set_status(self.entry.conversation, self.alice, "resolved", at=long_ago)
        later = self.inbound("ana@example.com", "Ana", "again")
        self.assertNotEqual(later.conversation_id, self.entry.conversation_id)
        response = self.client.get(f"/inbox/c/{later.conversation_id}/")
        self.assertContains(response, "ana@example.com")
        self.assertContains(response, "Gold")
        self.assertContains(response, f'href="/inbox/c/{self.entry.conversation_id}/"')

    def test_an_agent_adds_verifies_and_removes_an_identity(self):
        response = self.client.post(
            f"/inbox/contacts/{self.contact.pk}/identities/",
            {"kind": "phone", "value": "+385 91 123 4567", "next": self.page},
        )
        self.assertRedirects(response, self.page)
        phone = Identity.objects.get(kind="phone")
        self.assertEqual((phone.value, phone.contact_id), ("+385911234567", self.contact.pk))
        self.client.post(f"/inbox/identities/{phone.pk}/verify/", {"verified": "1"})
        phone.refresh_from_db()
        self.assertTrue(phone.verified)
        self.client.post(f"/inbox/identities/{phone.pk}/remove/")
        self.assertFalse(Identity.objects.filter(pk=phone.pk).exists())

    def test_a_bad_identity_is_refused_with_a_reason(self):
        response = self.client.post(
            f"/inbox/contacts/{self.contact.pk}/identities/",
            {"kind": "email", "value": "not-an-address"},
            HTTP_X_REQUESTED_WITH="fetch",
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("not an e-mail address", response.json()["error"])

    def test_the_last_identity_cannot_be_removed(self):
        identity = self.contact.identities.get()
        response = self.client.post(
            f"/inbox/identities/{identity.pk}/remove/", HTTP_X_REQUESTED_WITH="fetch"
        )
        self.assertEqual(response.status_code, 400)
        self.assertTrue(Identity.objects.filter(pk=identity.pk).exists())

    def test_an_identity_of_another_contact_is_refused(self):
        self.inbound("marko@example.com", "Marko")
        response = self.client.post(
            f"/inbox/contacts/{self.contact.pk}/identities/",
            {"kind": "email", "value": "marko@example.com"},
            HTTP_X_REQUESTED_WITH="fetch",
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("merge", response.json()["error"])

    def test_the_contact_name_and_attributes_are_edited(self):
        self.client.post(
            f"/inbox/contacts/{self.contact.pk}/",
            {"name": "Ana Kovač", "attributes": "plan: Gold\ncity: Zagreb"},
        )
        self.contact.refresh_from_db()
        self.assertEqual(self.contact.name, "Ana Kovač")
        self.assertEqual(self.contact.attributes, {"plan": "Gold", "city": "Zagreb"})

    def test_an_outsider_gets_404_on_contact_actions(self):
        other = self.inbound("boss@example.com", "Boss", team=self.sales.pk)
        response = self.client.post(
            f"/inbox/contacts/{other.contact_id}/identities/",
            {"kind": "phone", "value": "+385911234567"},
        )
        self.assertEqual(response.status_code, 404)
        identity = other.contact.identities.get()
        self.assertEqual(
            self.client.post(f"/inbox/identities/{identity.pk}/remove/").status_code, 404
        )

    def test_merge_previews_what_moves_then_merges(self):
        other = self.inbound("ana.work@example.com", "Ana at work", "from work")
        actions.update_contact(other.contact, attributes={"company": "ACME"})
        url = f"/inbox/contacts/{self.contact.pk}/merge/"
        preview = self.client.get(url, {"other": "ana.work@example.com", "next": self.page})
        self.assertContains(preview, "ana.work@example.com")
        self.assertContains(preview, f"#{other.conversation_id}")
        self.assertContains(preview, "ACME")
        self.assertTrue(Contact.objects.filter(pk=other.contact_id, merged_into=None).exists())
        response = self.client.post(url, {"other": "ana.work@example.com", "next": self.page})
        self.assertRedirects(response, self.page)
        source = Contact.objects.get(pk=other.contact_id)
        self.assertEqual(source.merged_into_id, self.contact.pk)
        self.assertEqual(
            Conversation.objects.get(pk=other.conversation_id).contact_id, self.contact.pk
        )
        page = self.client.get(self.page)
        self.assertContains(page, "from work")
        self.assertContains(page, "merged contact Ana at work")

    def test_merge_with_an_unknown_or_the_same_contact_explains_why_not(self):
        url = f"/inbox/contacts/{self.contact.pk}/merge/"
        self.assertContains(
            self.client.get(url, {"other": "nobody@example.com"}), "No contact found"
        )
        response = self.client.post(url, {"other": "ana@example.com"})
        self.assertContains(response, "cannot be merged into itself", status_code=400)
