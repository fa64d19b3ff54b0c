from __future__ import annotations

from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from conversations import actions, realtime
from conversations.identities import IdentityRef, normalize
from conversations.inbound import InboundMessage, ThreadHints
from conversations.models import Contact, Conversation, Entry, Identity
from tests.base import HelpdeskTestCase


class RecordInboundTestCase(HelpdeskTestCase):
    def message(self, channel: str, *refs: tuple[str, str], **kwargs) -> InboundMessage:
        identities = [normalize(kind, value) for kind, value in refs]
        kwargs.setdefault("body", f"hello via {channel}")
        return InboundMessage(
            inbox_id=self.api_inbox.pk,
            team_id=self.support.pk,
            channel=channel,
            identities=identities,
            **kwargs,
        )

    def record(self, msg: InboundMessage) -> actions.Recorded:
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg)


class IdentityResolutionTests(RecordInboundTestCase):
    def test_it_keeps_one_contact_across_sms_whatsapp_and_voice_numbers_written_differently(self):
        sms = self.record(self.message("sms", ("phone", "+385 91 123 4567"), provider_id="SM1"))
        wa = self.record(
            self.message("whatsapp", ("whatsapp", "385911234567"), provider_id="wamid.1")
        )
        call = self.record(
            self.message("phone", ("phone", "tel:+385-91-123-4567"), provider_id="CA1")
        )
        self.assertEqual(Contact.objects.count(), 1)
        self.assertEqual(
            {sms.entry.contact_id, wa.entry.contact_id, call.entry.contact_id},
            {sms.entry.contact_id},
        )
        self.assertEqual(Identity.objects.get().value, "+385911234567")

    def test_it_adds_new_identities_to_the_contact_found_by_another(self):
        self.record(self.message("email", ("email", "ana@example.com"), contact_name="Ana"))
        self.record(self.message("api", ("email", "ANA@example.com"), ("phone", "+385911234567")))
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Ana")
        self.assertEqual(
            sorted(contact.identities.values_list("kind", "value")),
            [("email", "ana@example.com"), ("phone", "+385911234567")],
        )

    def test_it_fills_an_empty_name_from_a_later_message(self):
        self.record(self.message("sms", ("phone", "+385911234567")))
        self.record(self.message("whatsapp", ("phone", "+385911234567"), contact_name="Marko"))
        self.assertEqual(Contact.objects.get().name, "Marko")


class ContinuityTests(RecordInboundTestCase):
    def test_an_open_conversation_takes_the_next_message_whatever_its_channel(self):
        first = self.record(self.message("chat", ("email", "ana@example.com"), provider_id="c1"))
        second = self.record(self.message("email", ("email", "ana@example.com"), provider_id="e1"))
        self.assertEqual(first.entry.conversation_id, second.entry.conversation_id)
        conversation = Conversation.objects.get()
        self.assertEqual(conversation.first_channel, "chat")
        self.assertEqual(conversation.last_inbound_channel, "email")
        switch = Entry.objects.get(kind="event", event="channel_switched")
        self.assertEqual(switch.parameters, {"from": "chat", "to": "email", "by": "customer"})

    def test_it_starts_the_conversation_in_the_inbox_team(self):
        self.record(self.message("api", ("email", "ana@example.com")))
        conversation = Conversation.objects.get()
        self.assertEqual(conversation.team, self.support)
        self.assertEqual(conversation.inbox, self.api_inbox)
        self.assertEqual(conversation.status, "open")

    def test_it_reopens_a_resolved_conversation_within_the_window(self):
        start = timezone.now() - timedelta(hours=10)
        first = self.record(self.message("chat", ("email", "ana@example.com"), occurred_at=start))
        conversation = first.entry.conversation
        actions.set_status(conversation, self.alice, "resolved", at=start + timedelta(minutes=5))
        later = self.record(
            self.message(
                "sms", ("email", "ana@example.com"), occurred_at=start + timedelta(hours=2)
            )
        )
        conversation.refresh_from_db()
        self.assertEqual(later.entry.conversation_id, conversation.pk)
        self.assertEqual(conversation.status, "open")
        self.assertEqual(conversation.reopened_count, 1)
        self.assertTrue(Entry.objects.filter(event="reopened", conversation=conversation).exists())

    @override_settings(REOPEN_WINDOW_HOURS=24)
    def test_it_starts_a_new_linked_conversation_after_the_window(self):
        start = timezone.now() - timedelta(days=5)
        first = self.record(self.message("chat", ("email", "ana@example.com"), occurred_at=start))
        old = first.entry.conversation
        actions.set_status(old, self.alice, "resolved", at=start + timedelta(minutes=5))
        later = self.record(self.message("email", ("email", "ana@example.com")))
        self.assertNotEqual(later.entry.conversation_id, old.pk)
        self.assertEqual(later.entry.conversation.previous_id, old.pk)
        old.refresh_from_db()
        self.assertEqual(old.reopened_count, 0)

    def test_a_reply_to_an_earlier_message_joins_its_conversation(self):
        first = self.record(
            self.message("email", ("email", "ana@example.com"), provider_id="<m1@x>")
        )
        actions.set_status(first.entry.conversation, self.alice, "resolved")
        colleague = self.record(
            self.message(
                "email",
                ("email", "boss@example.com"),
                provider_id="<m2@x>",
                thread=ThreadHints(replies_to=["<m1@x>"]),
            )
        )
        self.assertEqual(colleague.entry.conversation_id, first.entry.conversation_id)
        self.assertNotEqual(colleague.entry.contact_id, first.entry.contact_id)

    def test_a_pending_conversation_opens_again_when_the_customer_writes(self):
        first = self.record(self.message("chat", ("email", "ana@example.com")))
        actions.set_status(first.entry.conversation, self.alice, "pending")
        self.record(self.message("chat", ("email", "ana@example.com")))
        self.assertEqual(Conversation.objects.get().status, "open")


class LifecycleTests(RecordInboundTestCase):
    def test_it_keeps_the_lifecycle_timestamps(self):
        t0 = timezone.now() - timedelta(hours=1)
        first = self.record(self.message("chat", ("email", "ana@example.com"), occurred_at=t0))
        conversation = first.entry.conversation
        self.assertEqual(conversation.first_inbound_at, t0)
        self.assertEqual(conversation.waiting_since, t0)
        with self.captureOnCommitCallbacks(execute=True):
            actions.reply(conversation, None, "Auto: we got it", is_auto=True)
        conversation.refresh_from_db()
        self.assertIsNone(conversation.first_human_reply_at)
        self.assertEqual(conversation.human_reply_count, 0)
        with self.captureOnCommitCallbacks(execute=True):
            actions.add_note(conversation, self.alice, "looking")
            entry = actions.reply(conversation, self.alice, "Hi Ana")
        conversation.refresh_from_db()
        self.assertEqual(conversation.first_human_reply_at, entry.occurred_at)
        self.assertEqual(conversation.human_reply_count, 1)
        self.assertIsNone(conversation.waiting_since)


class IdempotencyTests(RecordInboundTestCase):
    def test_the_same_provider_id_twice_is_one_entry(self):
        a = self.record(self.message("sms", ("phone", "+385911234567"), provider_id="SM1"))
        b = self.record(self.message("sms", ("phone", "+385911234567"), provider_id="SM1"))
        self.assertTrue(a.created)
        self.assertFalse(b.created)
        self.assertEqual(a.entry.pk, b.entry.pk)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_the_same_client_id_twice_is_one_entry(self):
        import uuid

        client_id = uuid.uuid4()
        self.record(self.message("chat", ("chat", "visitor-1"), client_id=client_id))
        again = self.record(self.message("chat", ("chat", "visitor-1"), client_id=client_id))
        self.assertFalse(again.created)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_a_batch_finds_earlier_client_ids_among_its_known_senders_entries_only(self):
        import uuid

        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client_id = uuid.uuid4()
        self.record(self.message("chat", ("chat", "visitor-1"), client_id=client_id))
        repeat = self.message("chat", ("chat", "visitor-1"), client_id=client_id)
        fresh = self.message("chat", ("chat", "visitor-2"), client_id=uuid.uuid4())
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            with actions.inbound_batch([repeat, fresh]):
                again = actions.record_inbound(repeat)
                new = actions.record_inbound(fresh)
        self.assertFalse(again.created)
        self.assertTrue(new.created)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 2)
        # Looked up by (contact, client id), which the index serves, not client id alone.
        lookups = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].startswith("SELECT") and '"client_id" IN' in q["sql"]
        ]
        self.assertEqual(len(lookups), 1, lookups)
        self.assertIn('"contact_id" IN', lookups[0])


class RealtimeTests(RecordInboundTestCase):
    def receive(self, channel_name: str):
        layer = get_channel_layer()

        async def get():
            import asyncio

            try:
                return await asyncio.wait_for(layer.receive(channel_name), 0.2)
            except TimeoutError:
                return None

        return async_to_sync(get)()

    def test_it_publishes_after_commit(self):
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(realtime.team_group(self.support.pk), channel)
        self.record(self.message("chat", ("email", "ana@example.com")))
        event = self.receive(channel)
        self.assertEqual(event["type"], "conversation.created")

    def test_nothing_is_published_when_the_transaction_rolls_back(self):
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(realtime.team_group(self.support.pk), channel)

        class Boom(Exception):
            pass

        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    actions.record_inbound(self.message("chat", ("email", "ana@example.com")))
                    raise Boom
            except Boom:
                pass
        self.assertEqual(callbacks, [])
        self.assertIsNone(self.receive(channel))
        self.assertFalse(Entry.objects.exists())
        self.assertFalse(Contact.objects.exists())


class MergeAndEraseTests(RecordInboundTestCase):
    def test_merging_moves_identities_conversations_and_history(self):
        a = self.record(self.message("email", ("email", "ana@example.com"), contact_name="Ana"))
        b = self.record(self.message("sms", ("phone", "+385911234567")))
        source, target = b.entry.contact, a.entry.contact
        with self.captureOnCommitCallbacks(execute=True):
            actions.merge_contacts(source, target, self.alice)
        source.refresh_from_db()
        self.assertEqual(source.merged_into, target)
        self.assertEqual(target.identities.count(), 2)
        self.assertEqual(target.conversations.count(), 2)
        self.assertTrue(Entry.objects.filter(event="contacts_merged", contact=target).exists())
        # a later SMS finds the merged contact
        later = self.record(self.message("sms", ("phone", "+385911234567")))
        self.assertEqual(later.entry.contact_id, target.pk)

    def test_erasing_removes_content_and_identities_but_keeps_counts(self):
        a = self.record(
            self.message("email", ("email", "ana@example.com"), contact_name="Ana", body="secret")
        )
        actions.erase_contact(a.entry.contact)
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "")
        self.assertIsNotNone(contact.erased_at)
        self.assertFalse(Identity.objects.exists())
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)
        self.assertEqual(Entry.objects.get(kind="inbound").body, "")


class RefTests(RecordInboundTestCase):
    def test_a_message_without_identity_is_refused(self):
        with self.assertRaises(actions.ActionError):
            actions.record_inbound(self.message("api"))

    def test_identity_refs_compare_by_value(self):
        self.assertEqual(IdentityRef("email", "a@b.c"), normalize("email", "A@b.c"))


class AutomaticMessageTests(RecordInboundTestCase):
    def test_an_automatic_reply_never_reopens_a_resolved_conversation(self):
        first = self.record(self.message("email", ("email", "ana@example.com")))
        actions.set_status(first.entry.conversation, self.alice, "resolved")
        ooo = self.record(
            self.message("email", ("email", "ana@example.com"), body="I'm away", is_auto=True)
        )
        conversation = Conversation.objects.get()
        self.assertEqual(ooo.entry.conversation_id, conversation.pk)
        self.assertEqual((conversation.status, conversation.reopened_count), ("resolved", 0))
        self.assertIsNone(conversation.waiting_since)
