from __future__ import annotations

import unittest
from unittest import mock

from django.db import connection

from conversations import actions, search
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Entry
from tests.base import HelpdeskTestCase


class SearchTests(HelpdeskTestCase):
    def inbound(
        self, body: str, email: str, name: str = "", team: int | None = -1, phone: str = ""
    ):
        identities = [IdentityRef("email", email)]
        if phone:
            identities.append(IdentityRef("phone", phone))
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            channel="api",
            identities=identities,
            team_id=self.support.pk if team == -1 else team,
            body=body,
            contact_name=name,
        )
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg).entry

    def setUp(self) -> None:
        self.parcel = self.inbound(
            "My parcel never arrived, tracking says delivered", "ana@example.com", "Ana Kovač"
        )
        self.refund = self.inbound(
            "I want a refund for the blue jacket",
            "marko@example.com",
            "Marko Horvat",
            phone="+385911234567",
        )
        self.hidden = self.inbound(
            "Secret parcel pricing for resellers",
            "boss@example.com",
            "Big Buyer",
            team=self.sales.pk,
        )

    def test_it_finds_a_message_by_a_word_in_its_body(self):
        results = search.search(self.alice, "parcel")
        self.assertEqual([e.pk for e in results.entries], [self.parcel.pk])

    def test_all_words_must_match(self):
        self.assertEqual(search.search(self.alice, "refund jacket").entries, [self.refund])
        self.assertEqual(search.search(self.alice, "refund parcel").entries, [])

    def test_it_finds_contacts_by_name_email_fragment_and_phone(self):
        self.assertEqual(
            [c.name for c in search.search(self.alice, "Horv").contacts], ["Marko Horvat"]
        )
        self.assertEqual(
            [c.name for c in search.search(self.alice, "ana@exam").contacts], ["Ana Kovač"]
        )
        self.assertEqual(
            [c.name for c in search.search(self.alice, "+385 91 123 4567").contacts],
            ["Marko Horvat"],
        )

    def test_it_finds_a_conversation_by_its_number(self):
        number = self.refund.conversation_id
        for text in (f"#{number}", str(number)):
            found = search.search(self.alice, text).conversation
            self.assertEqual(found.pk if found else None, number)

    def test_it_never_shows_what_the_agent_cannot_see(self):
        results = search.search(self.alice, "parcel")
        self.assertNotIn(self.hidden.pk, [e.pk for e in results.entries])
        self.assertEqual(search.search(self.alice, "Big Buyer").contacts, [])
        self.assertIsNone(search.search(self.alice, f"#{self.hidden.conversation_id}").conversation)
        supervisor = search.search(self.sam, "parcel")
        self.assertEqual(len(supervisor.entries), 2)

    def test_like_wildcards_in_the_query_are_literal(self):
        self.assertEqual(search.search(self.alice, "%").entries, [])
        self.assertEqual(search.search(self.alice, "_").contacts, [])

    def test_the_page_shows_hits_with_links(self):
        self.client.force_login(self.alice)
        response = self.client.get("/inbox/search/?q=parcel")
        self.assertContains(response, "My parcel never arrived")
        self.assertContains(
            response, f"/inbox/c/{self.parcel.conversation_id}/#e-{self.parcel.public_id}"
        )
        self.assertNotContains(response, "Secret parcel")

    @mock.patch("conversations.refdata.TTL_SECONDS", 3600)
    def test_the_search_page_query_count_does_not_grow_with_hits(self):
        self.inbound("hello", "fan@example.com", "Parcel Fan")  # a contact hit too
        self.client.force_login(self.sam)
        self.client.get("/inbox/search/?q=parcel")
        with self.assertNumQueries(5):
            self.client.get("/inbox/search/?q=parcel")
        for i in range(10):
            self.inbound(f"another parcel {i}", f"p{i}@example.com", f"Parcel Person {i}")
        with self.assertNumQueries(5):
            response = self.client.get("/inbox/search/?q=parcel")
        self.assertEqual(len(response.context["results"].entries), 12)


@unittest.skipUnless(connection.vendor == "postgresql", "PostgreSQL full-text search")
class PostgresSearchTests(HelpdeskTestCase):
    def test_the_search_indexes_exist(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname IN "
                "('entry_body_fts', 'contact_name_trgm', 'identity_value_trgm', "
                "'contact_name_upper_trgm', 'identity_value_upper_trgm')"
            )
            self.assertEqual(len(cursor.fetchall()), 5)

    def test_contact_search_can_use_the_trigram_indexes(self):
        sql, params = search.contact_matches("kovac").values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        self.assertIn("contact_name_upper_trgm", plan)
        self.assertIn("identity_value_upper_trgm", plan)

    def test_hits_come_newest_first_from_the_recent_window_and_the_older_rest(self):
        def say(body: str, email: str, team: int | None = None) -> Entry:
            msg = InboundMessage(
                inbox_id=self.api_inbox.pk,
                channel="api",
                identities=[IdentityRef("email", email)],
                team_id=team,
                body=body,
            )
            with self.captureOnCommitCallbacks(execute=True):
                return actions.record_inbound(msg).entry

        oldest = say("parcel lost", "a@example.com")
        hidden = say("parcel hidden", "b@example.com", team=self.sales.pk)
        older = say("parcel late", "c@example.com")
        for i in range(4):
            say(f"nothing {i}", f"n{i}@example.com")
        newest = say("parcel found", "d@example.com")
        for window in (2, 3, 100):  # the hits split between the branches, or all recent
            with self.subTest(window=window), mock.patch.object(search, "RECENT_WINDOW", window):
                self.assertEqual(
                    list(search.entries_queryset(self.alice, "parcel")), [newest, older, oldest]
                )
                self.assertEqual(len(search.entries_queryset(self.sam, "parcel")), 4)
                self.assertIn(hidden, search.entries_queryset(self.sam, "parcel"))
                self.assertEqual(list(search.entries_queryset(self.alice, "zzzq")), [])

    def test_the_full_text_query_can_use_the_gin_index(self):
        qs = search.message_matches("parcel").values("id")
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        self.assertIn("entry_body_fts", plan)

    def test_full_text_matches_word_forms_of_the_simple_dictionary(self):
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            channel="api",
            identities=[IdentityRef("email", "x@example.com")],
            body="Parcels, PARCEL and parcel!",
        )
        with self.captureOnCommitCallbacks(execute=True):
            entry = actions.record_inbound(msg).entry
        self.assertEqual(list(search.message_matches("parcel")), [Entry.objects.get(pk=entry.pk)])


@unittest.skipUnless(connection.vendor == "postgresql", "PostgreSQL partial indexes")
class PostgresListPlanTests(HelpdeskTestCase):
    def plan(self, sort: str) -> str:
        from conversations import listing

        qs, _key = listing.page_queryset(self.sam, listing.ListQuery(sort=sort))
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())

    def test_the_default_lists_read_their_partial_index_in_order(self):
        self.assertIn("conv_active_waiting", self.plan("waiting"))
        self.assertIn("conv_active_recent", self.plan("newest"))
