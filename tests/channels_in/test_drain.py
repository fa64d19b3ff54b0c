"""Draining received events in batches: one transaction, a savepoint per event."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test import TransactionTestCase, skipUnlessDBFeature
from django.test.utils import CaptureQueriesContext

from channels_in import actions
from channels_in.models import InboundEvent
from conversations import signals
from conversations.models import Contact, Conversation, Entry
from conversations.realtime import team_group
from tests.base import HelpdeskTestCase


def payload(i: int, *, customer: int | None = None, body: str = "") -> bytes:
    who = i if customer is None else customer
    return json.dumps(
        {
            "id": f"msg-{i}",
            "contact": {"name": f"Customer {who}", "email": f"customer{who}@example.com"},
            "body": body or f"Message number {i}",
            "timestamp": f"2026-03-02T09:{i % 60:02d}:00+00:00",
        }
    ).encode()


class DrainTests(HelpdeskTestCase):
    def store(self, i: int, **kwargs: Any) -> InboundEvent:
        with mock.patch.object(actions, "request_drain"):
            with self.captureOnCommitCallbacks(execute=True):
                event, _ = actions.store_event(
                    self.api_inbox, f"msg-{i}", "", payload(i, **kwargs), {}
                )
        return event

    def drain(self) -> int | None:
        with signals.batch(), self.captureOnCommitCallbacks(execute=True):
            return actions.process_batch()

    def test_a_batch_records_every_event_on_its_customers_timeline(self):
        for i in range(6):
            self.store(i, customer=i % 2)  # two customers, three messages each
        self.assertEqual(self.drain(), 6)
        self.assertEqual(set(InboundEvent.objects.values_list("status", flat=True)), {"processed"})
        self.assertEqual(Contact.objects.count(), 2)
        self.assertEqual(Conversation.objects.count(), 2)
        for conversation in Conversation.objects.all():
            bodies = list(
                conversation.entries.filter(kind="inbound")
                .order_by("occurred_at")
                .values_list("body", flat=True)
            )
            self.assertEqual(len(bodies), 3)
            self.assertEqual(conversation.team_id, self.support.pk)
            self.assertIsNotNone(conversation.waiting_since)
        event = InboundEvent.objects.get(provider_event_id="msg-4")
        self.assertEqual(
            Contact.objects.filter(name="Customer 0").values_list("pk", flat=True).get(),
            event.contact_id,
        )
        self.assertEqual(event.attempts, 1)
        self.assertIsNotNone(event.processed_at)
        self.assertEqual(self.drain(), 0)

    def test_a_known_customer_costs_a_fixed_few_queries_per_message(self):
        self.store(0, customer=0)
        self.drain()

        def cost(first: int, count: int) -> int:
            for i in range(first, first + count):
                self.store(i, customer=0)
            with CaptureQueriesContext(connection) as queries:
                self.drain()
            return len(queries)

        # (the KPI refresh runs eagerly in tests, whenever its debounce lapses: not here)
        with mock.patch("kpi.tasks.schedule_refresh"):
            small, large = cost(1, 5), cost(100, 25)
        # The entry's INSERT and the conversation's UPDATE per message; one savepoint
        # and the lookups (duplicates, identities, contacts, conversations) per batch.
        self.assertLessEqual(large - small, 20 * 2)

    def test_one_bad_event_fails_alone(self):
        self.store(1, customer=7)
        with mock.patch.object(actions, "request_drain"):
            bad, _ = actions.store_event(self.api_inbox, "broken", "", b"{not json", {})
        self.store(2, customer=7)
        self.store(3, customer=8)
        self.drain()
        bad.refresh_from_db()
        self.assertEqual(bad.status, "failed")
        self.assertIn("JSON", bad.error)
        self.assertEqual(
            InboundEvent.objects.filter(status="processed").count(), 3, "the others went on"
        )
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 3)
        self.assertEqual(Conversation.objects.filter(contact__name="Customer 7").count(), 1)

    def test_a_failure_while_recording_rolls_back_that_event_only(self):
        self.store(1, customer=5)
        self.store(2, customer=5)
        self.store(3, customer=5)
        real = actions.core.record_inbound
        calls = []

        def flaky(msg: Any) -> Any:
            calls.append(msg.provider_id)
            if msg.provider_id == "msg-2":
                real(msg)  # writes, then fails: its savepoint must undo the write
                raise RuntimeError("boom")
            return real(msg)

        with mock.patch.object(actions.core, "record_inbound", side_effect=flaky):
            self.drain()
        statuses = dict(InboundEvent.objects.values_list("provider_event_id", "status"))
        self.assertEqual(statuses, {"msg-1": "processed", "msg-2": "failed", "msg-3": "processed"})
        self.assertEqual(
            sorted(Entry.objects.filter(kind="inbound").values_list("provider_id", flat=True)),
            ["msg-1", "msg-3"],
        )
        self.assertEqual(Conversation.objects.count(), 1)
        # and it can be replayed
        actions.replay(InboundEvent.objects.get(provider_event_id="msg-2"))
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 3)

    def test_a_batch_without_failures_takes_one_savepoint_not_one_per_event(self):
        self.store(0, customer=0)
        self.drain()  # a known customer from now on
        for i in range(1, 6):
            self.store(i, customer=0)
        # (the KPI refresh after commit runs eagerly in tests: not here)
        with (
            mock.patch("kpi.tasks.schedule_refresh"),
            CaptureQueriesContext(connection) as queries,
        ):
            self.drain()
        savepoints = [
            q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")
        ]
        # process_batch's transaction (a savepoint inside the test's) and the batch's
        self.assertEqual(len(savepoints), 2, savepoints)
        self.assertEqual(InboundEvent.objects.filter(status="processed").count(), 6)
        self.assertEqual(InboundEvent.objects.filter(attempts=1).count(), 6)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 6)

    def test_the_same_provider_message_in_two_events_is_one_entry(self):
        self.store(1, customer=3)
        with mock.patch.object(actions, "request_drain"):
            actions.store_event(self.api_inbox, "resent-under-a-new-id", "", payload(1), {})
        self.drain()
        self.assertEqual(Entry.objects.filter(provider_id="msg-1").count(), 1)
        self.assertEqual(set(InboundEvent.objects.values_list("status", flat=True)), {"processed"})

    def test_a_batch_publishes_every_message_after_commit(self):
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(team_group(self.support.pk), channel)
        for i in range(4):
            self.store(i)
        with mock.patch("kpi.actions.mark_dirty") as mark_dirty:
            self.drain()
        mark_dirty.assert_called_once()  # one call (one INSERT) for the whole batch
        self.assertEqual(len(set(mark_dirty.call_args.args)), 4)
        received = []
        for _ in range(4):
            received.append(async_to_sync(layer.receive)(channel))
        self.assertEqual(sorted(m["type"] for m in received), ["conversation.created"] * 4)

    def test_a_request_for_a_drain_is_sent_once_for_a_burst(self):
        with mock.patch.object(actions, "enqueue") as enqueue:
            for _ in range(5):
                actions.request_drain()
        enqueue.assert_called_once_with(actions.DRAIN_TASK)


class BatchKpiMarksTests(TransactionTestCase):
    """After a real commit, a batch marks its conversations for the KPIs in one INSERT."""

    def test_one_insert_marks_every_conversation_of_the_batch(self):
        from channels_in import actions as channel_actions

        inbox = channel_actions.create_inbox("api", "batch", values={"secret": "x"})
        with mock.patch.object(actions, "request_drain"):
            for i in range(5):
                actions.store_event(inbox, f"msg-{i}", "", payload(i), {})
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(actions.process_batch(), 5)
        inserts = [
            q for q in queries if q["sql"].startswith("INSERT") and "kpi_kpidirty" in q["sql"]
        ]
        self.assertEqual(len(inserts), 1)


@skipUnlessDBFeature("has_select_for_update_skip_locked")
class OneDrainerTests(TransactionTestCase):
    def test_a_second_drainer_steps_aside_while_one_works(self):
        import psycopg

        db = connection.settings_dict
        other = psycopg.connect(
            dbname=db["NAME"],
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            autocommit=True,
        )
        try:
            other.execute("BEGIN")
            other.execute("SELECT pg_advisory_xact_lock(%s)", [actions._DRAIN_LOCK])
            self.assertIsNone(actions.process_batch())
            other.execute("COMMIT")
            self.assertEqual(actions.process_batch(), 0)
        finally:
            other.close()
