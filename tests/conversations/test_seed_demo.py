"""seed_demo: the bulk generator's rows look like the actions' rows; the demo loads once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock, skipUnless

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from channels_in.models import Inbox
from channels_in.registry import known_kinds
from conversations import bulk, demo
from conversations.models import Contact, Conversation, Entry, Identity
from helpdesk.models import Agent, Team


def assert_lifecycle_consistent(test: TestCase, conversations: Any) -> None:
    """Every lifecycle field equals what the conversation's entries say."""
    now = timezone.now()
    active_per_contact: dict[int, int] = {}
    for conv in conversations:
        entries = list(conv.entries.order_by("occurred_at", "id"))
        test.assertTrue(entries, f"#{conv.pk} has no entries")
        inbound = [e for e in entries if e.kind == Entry.Kind.INBOUND]
        messages = [e for e in entries if e.kind in (Entry.Kind.INBOUND, Entry.Kind.OUTBOUND)]
        human = [e for e in entries if e.is_human_reply]
        test.assertTrue(inbound, f"#{conv.pk} has no customer message")
        test.assertEqual(conv.first_inbound_at, inbound[0].occurred_at)
        test.assertEqual(conv.first_channel, inbound[0].channel)
        test.assertEqual(conv.last_inbound_at, inbound[-1].occurred_at)
        test.assertEqual(conv.last_inbound_channel, inbound[-1].channel)
        test.assertEqual(conv.last_message_at, max(e.occurred_at for e in messages))
        test.assertEqual(conv.human_reply_count, len(human))
        test.assertEqual(conv.first_human_reply_at, human[0].occurred_at if human else None)
        for e in entries:
            test.assertEqual(e.contact_id, conv.contact_id)
            test.assertLessEqual(e.occurred_at, now)
            if e.kind == Entry.Kind.OUTBOUND:
                test.assertIn(e.delivery_status, ("sent", "delivered", "read", "failed"))
                test.assertTrue(e.channel and e.inbox_id)
            if e.kind == Entry.Kind.INBOUND:
                test.assertTrue(e.channel and e.provider_id)
        if conv.status == Conversation.Status.RESOLVED:
            test.assertIsNotNone(conv.resolved_at)
            test.assertIsNone(conv.waiting_since)
        else:
            active_per_contact[conv.contact_id] = active_per_contact.get(conv.contact_id, 0) + 1
        last = messages[-1]
        if conv.waiting_since is not None:
            # The customer waits only while the ball is in our court.
            test.assertTrue(conv.is_active)
            test.assertTrue(last.kind == Entry.Kind.INBOUND or last.is_auto)
            test.assertIn(conv.waiting_since, [e.occurred_at for e in inbound])
        elif conv.is_active and last.kind == Entry.Kind.INBOUND:
            test.fail(f"#{conv.pk} ends with a customer message but nobody waits")
    test.assertTrue(all(n == 1 for n in active_per_contact.values()), active_per_contact)


class BulkTests(TestCase):
    def seed(self, conversations: int, messages: int, seed: int = 1) -> str:
        out = StringIO()
        call_command(
            "seed_demo",
            "--conversations",
            str(conversations),
            "--messages",
            str(messages),
            "--seed",
            str(seed),
            "--no-progress",
            stdout=out,
        )
        return out.getvalue()

    def test_it_creates_exactly_the_numbers_asked(self) -> None:
        output = self.seed(60, 500)
        self.assertEqual(Conversation.objects.count(), 60)
        self.assertEqual(Entry.objects.count(), 500)
        self.assertIn("60 conversations and 500 timeline entries", output)
        self.assertEqual(Contact.objects.count(), 36)

    def test_rows_are_consistent_with_what_actions_produce(self) -> None:
        self.seed(80, 900, seed=7)
        assert_lifecycle_consistent(self, Conversation.objects.all())
        statuses = set(Conversation.objects.values_list("status", flat=True))
        self.assertIn(Conversation.Status.RESOLVED, statuses)
        self.assertIn(Conversation.Status.OPEN, statuses)
        kinds = set(Entry.objects.values_list("kind", flat=True))
        self.assertEqual(kinds, set(Entry.Kind.values))
        # Several channels, and some conversations that span more than one.
        self.assertGreaterEqual(
            Entry.objects.filter(kind="inbound").values("channel").distinct().count(), 4
        )
        multi = [
            c
            for c in Conversation.objects.all()
            if c.entries.filter(kind="inbound").values("channel").distinct().count() > 1
        ]
        self.assertTrue(multi)

    def test_contacts_have_the_identities_of_their_channels(self) -> None:
        self.seed(40, 300)
        for entry in Entry.objects.filter(kind="inbound").select_related("contact"):
            kind = bulk.CHANNEL_IDENTITY[entry.channel]
            self.assertTrue(
                Identity.objects.filter(contact=entry.contact_id, kind=kind).exists(),
                f"{entry.contact_id} wrote on {entry.channel} without a {kind} identity",
            )
        self.assertGreater(Identity.objects.values("kind").distinct().count(), 3)

    def test_a_second_run_adds_to_the_first(self) -> None:
        self.seed(10, 50)
        self.seed(10, 50, seed=2)
        self.assertEqual(Conversation.objects.count(), 20)
        self.assertEqual(Entry.objects.count(), 100)
        # New rows get fresh keys: the sequences were moved past the copied ids.
        agent = Agent.objects.create_user("after@example.com", "pw")
        conv = Conversation.objects.create(contact=Contact.objects.create())
        self.assertGreater(conv.pk, 20)
        self.assertTrue(agent.pk)

    def test_bodies_have_words_to_search(self) -> None:
        self.seed(20, 200)
        self.assertTrue(Entry.objects.filter(kind="inbound", body__icontains="order").exists())

    @skipUnless(connection.vendor == "postgresql", "PostgreSQL's COPY and index rebuild")
    def test_a_big_load_rebuilds_the_indexes_it_dropped(self) -> None:
        def indexes() -> set[str]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename IN "
                    "('conversations_entry', 'conversations_conversation')"
                )
                return {row[0] for row in cursor.fetchall()}

        before = indexes()
        with mock.patch("conversations.bulk.DEFER_INDEXES_FROM", 10):
            self.seed(30, 300)
        self.assertEqual(indexes(), before)
        self.assertEqual(Entry.objects.count(), 300)
        assert_lifecycle_consistent(self, Conversation.objects.all())

    def test_bad_numbers_are_refused(self) -> None:
        with self.assertRaisesMessage(CommandError, "at least --conversations"):
            self.seed(10, 5)
        with self.assertRaisesMessage(CommandError, "both --conversations and --messages"):
            call_command("seed_demo", "--conversations", "10")
        with self.assertRaisesMessage(CommandError, "at least 1"):
            self.seed(0, 5)
        self.assertEqual(Conversation.objects.count(), 0)


@pytest.mark.usefixtures("http_mock")
class DemoTests(TestCase):
    def run_demo(self) -> str:
        out = StringIO()
        with (
            mock.patch.dict("os.environ", {"DEMO_ADMIN_PASSWORD": "demo-pass-1234"}),
            mock.patch("helpdesk.queue.enqueue") as enqueue,
            self.captureOnCommitCallbacks(execute=True),
        ):
            call_command("seed_demo", stdout=out, stderr=StringIO())
        self.enqueued = [c.args[0] for c in enqueue.call_args_list]
        return out.getvalue()

    def test_it_creates_the_workspace_through_actions(self) -> None:
        output = self.run_demo()
        admin = Agent.objects.get(email="admin@example.com")
        self.assertTrue(admin.is_superuser)
        self.assertEqual(admin.role, Agent.Role.ADMIN)
        self.assertTrue(admin.check_password("demo-pass-1234"))
        self.assertIn("http://127.0.0.1:8000/login/", output)
        self.assertIn("demo-pass-1234", output)
        self.assertEqual(set(Team.objects.values_list("name", flat=True)), {"Support", "Sales"})
        self.assertTrue(
            Agent.objects.get(email="ana.horvat@example.com").check_password("demo-pass-1234")
        )
        self.assertGreaterEqual(Team.objects.get(name="Support").members.count(), 3)
        kinds = set(Inbox.objects.filter(slug__startswith="demo-").values_list("kind", flat=True))
        self.assertIn("api", kinds)
        self.assertLessEqual(kinds, set(known_kinds()))
        self.assertEqual(
            Contact.objects.filter(identities__value__endswith="@demo.example.com").count(), 30
        )
        demo_conversations = Conversation.objects.filter(
            contact__identities__value__endswith="@demo.example.com"
        )
        assert_lifecycle_consistent(self, demo_conversations)
        self.assertEqual(
            {c.status for c in demo_conversations},
            {"open", "pending", "resolved"},
        )
        self.assertTrue(Entry.objects.filter(kind="note").exists())
        self.assertTrue(Entry.objects.filter(kind="event", event="assigned").exists())
        # Past weeks, not all at the same moment.
        oldest = Entry.objects.order_by("occurred_at").first()
        assert oldest is not None
        self.assertLess(oldest.occurred_at, timezone.now() - timedelta(days=7))

    def test_replies_are_never_sent_or_queued(self) -> None:
        self.run_demo()
        self.assertNotIn("channels_in.send_outbound", self.enqueued)
        self.assertEqual(self.http.requests, [])
        self.assertFalse(Entry.objects.filter(kind="outbound", delivery_status="queued").exists())
        self.assertTrue(Entry.objects.filter(kind="outbound", delivery_status="read").exists())

    def test_histories_span_several_channels(self) -> None:
        self.run_demo()
        if len({c for c in demo.inboxes_by_channel("demo", []) if c}) < 2:
            self.skipTest("only one channel kind is registered")
        spans = [
            contact.entries.filter(kind="inbound").values("channel").distinct().count()
            for contact in Contact.objects.filter(identities__value__endswith="@demo.example.com")
        ]
        self.assertGreater(max(spans), 1)

    def test_a_second_run_changes_nothing_and_says_so(self) -> None:
        self.run_demo()
        counts = (Agent.objects.count(), Inbox.objects.count(), Entry.objects.count())
        output = self.run_demo()
        self.assertIn("nothing changed", output)
        self.assertEqual(
            counts, (Agent.objects.count(), Inbox.objects.count(), Entry.objects.count())
        )

    @pytest.fixture(autouse=True)
    def _recorder(self, http_mock: Any) -> None:
        self.http = http_mock
