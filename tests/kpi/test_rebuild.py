"""The set-based rebuild: a full rebuild and a refresh of chosen conversations write
the same facts, and the helpers behind them keep their contracts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import F
from django.test import override_settings

from conversations.models import Conversation
from kpi import compute
from kpi.actions import refresh_kpis
from kpi.models import KpiChannelTransition, KpiConversationFact, KpiInboundDay
from tests.kpi.helpers import KpiTestCase


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@override_settings(REOPEN_WINDOW_HOURS=24)
class RebuildTests(KpiTestCase):
    def setUp(self) -> None:
        super().setUp()
        # Channel switches, a reopen, a repeat contact, an unanswered one, and a
        # reply that came before the customer's first message.
        one = self.inbound(at(2, 9), "email", "ana@example.com").conversation
        self.reply(one, at(2, 9, 30))
        self.inbound(at(2, 10), "chat", "ana@example.com")
        self.inbound(at(3, 11), "email", "ana@example.com")
        self.resolve(one, at(3, 12))
        self.reopen(one, at(3, 13))
        self.resolve(one, at(4, 9))
        repeat = self.inbound(at(5, 9), "sms", "+385911234567", "phone").conversation
        self.reply(repeat, at(5, 9, 5))
        self.resolve(repeat, at(5, 10))
        self.inbound(at(6, 11), "whatsapp", "+385911234567", "phone")  # a new one
        self.inbound(at(7, 9), "chat", "v-1", "chat")
        early = self.inbound(at(8, 9), "email", "bo@example.com").conversation
        Conversation.objects.filter(pk=early.pk).update(
            first_human_reply_at=F("first_inbound_at") - (at(8, 9) - at(8, 8))
        )

    def snapshot(self) -> dict[str, Any]:
        facts = list(
            KpiConversationFact.objects.order_by("pk").values_list(
                *[
                    f.attname
                    for f in KpiConversationFact._meta.concrete_fields
                    if f.name != "refreshed_at"
                ]
            )
        )
        days = list(
            KpiInboundDay.objects.order_by("fact_id", "day", "channel").values_list(
                "fact_id", "day", "channel", "messages"
            )
        )
        transitions = list(
            KpiChannelTransition.objects.order_by("fact_id", "from_channel").values_list(
                "fact_id", "from_channel", "to_channel"
            )
        )
        return {"facts": facts, "days": days, "transitions": transitions}

    def test_a_full_rebuild_and_a_refresh_of_every_conversation_write_the_same_rows(self):
        refresh_kpis(full=True)
        full = self.snapshot()
        self.assertEqual(len(full["facts"]), Conversation.objects.count())
        self.assertTrue(full["transitions"])
        KpiConversationFact.objects.all().delete()
        KpiInboundDay.objects.all().delete()
        KpiChannelTransition.objects.all().delete()
        ids = list(Conversation.objects.values_list("pk", flat=True))
        self.assertEqual(compute.refresh_facts(ids), len(ids))
        self.assertEqual(self.snapshot(), full)

    def test_a_refresh_of_some_conversations_leaves_the_others_alone(self):
        refresh_kpis(full=True)
        before = self.snapshot()
        one = Conversation.objects.order_by("pk").first()
        assert one is not None
        compute.refresh_facts([one.pk])
        self.assertEqual(self.snapshot(), before)

    def test_the_rows_are_what_kpi_md_defines(self):
        refresh_kpis(full=True)
        one = KpiConversationFact.objects.order_by("pk")[0]
        self.assertEqual((one.frt_seconds, one.resolution_seconds), (1800.0, 2 * 86400.0))
        self.assertEqual((one.reopened, one.fcr, one.inbound_channels), (1, False, 2))
        repeat = KpiConversationFact.objects.get(channel="sms")
        self.assertTrue(repeat.repeat_contact)
        self.assertFalse(repeat.fcr)
        unanswered = KpiConversationFact.objects.get(channel="chat")
        self.assertIsNone(unanswered.frt_seconds)
        self.assertIsNone(unanswered.fcr)
        # A reply before the first customer message answers nothing: no FRT.
        early = KpiConversationFact.objects.filter(channel="email").order_by("pk").last()
        assert early is not None
        self.assertIsNone(early.frt_seconds)
        self.assertIsNone(early.business_frt_seconds)


class HelperTests(KpiTestCase):
    def test_fetch_rows_reads_the_same_values_as_the_orm(self):
        self.inbound(at(2, 9, 15))
        queryset = Conversation.objects.order_by("pk").values_list(
            "pk", "created_at", "first_inbound_at", "resolved_at", "first_channel"
        )
        self.assertEqual(compute.fetch_rows(queryset), list(queryset))

    def test_insert_select_refuses_a_query_that_selects_other_columns(self):
        self.inbound(at(2, 9))
        rows = Conversation.objects.order_by().values("pk", "first_channel")
        with self.assertRaises(Exception):  # noqa: B017 - FieldError or ValueError
            compute.insert_select(
                KpiChannelTransition,
                {"fact": "pk", "from_channel": "first_channel", "to_channel": "nope"},
                rows,
            )
        self.assertFalse(KpiChannelTransition.objects.exists())


class FullRebuildIndexTests(KpiTestCase):
    def test_a_full_rebuild_leaves_every_index_of_the_fact_tables_in_place(self):
        if connection.vendor != "postgresql":
            self.skipTest("PostgreSQL rebuilds plain indexes after the load")
        tables = [m._meta.db_table for m in compute.FACT_MODELS]

        def indexes() -> list[tuple[str, str]]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                    "ORDER BY indexname",
                    [tables],
                )
                return cursor.fetchall()

        before = indexes()
        self.inbound(at(2, 9))
        refresh_kpis(full=True)
        self.assertEqual(indexes(), before)
        self.assertEqual(KpiConversationFact.objects.count(), 1)
        # ...and analyzed: TRUNCATE dropped the planner's row counts.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE relname = %s",
                [KpiConversationFact._meta.db_table],
            )
            self.assertEqual(cursor.fetchone()[0], 1)
