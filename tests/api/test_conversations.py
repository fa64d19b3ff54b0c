from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from conversations import actions
from conversations.models import Conversation, Entry
from tests.api.base import ApiTestCase


class ConversationListTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ana = self.inbound("m1", "ana@example.com", "Where is my order?")
        self.ben = self.inbound("m2", "ben@example.com", "Refund please")
        # A Sales conversation: invisible to Support agents.
        self.sales_only = Conversation.objects.create(
            contact=self.ana.contact, team=self.sales, first_channel="email"
        )

    def ids(self, response: object) -> list[int]:
        return [row["id"] for row in response.json()["results"]]  # type: ignore[attr-defined]

    def test_it_lists_what_the_agent_may_see_newest_first(self) -> None:
        response = self.call("get", "/api/v1/conversations/", agent=self.alice)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.ids(response), [self.ben.pk, self.ana.pk])
        row = response.json()["results"][0]
        self.assertEqual(row["status"], "open")
        self.assertEqual(row["contact"]["id"], self.ben.contact_id)
        self.assertEqual(row["last_inbound_channel"], "api")
        sam = self.call("get", "/api/v1/conversations/", agent=self.sam)
        self.assertEqual(self.ids(sam), [self.sales_only.pk, self.ben.pk, self.ana.pk])

    def test_the_list_costs_the_same_few_queries_for_any_number_of_rows(self) -> None:
        token = self.token(self.alice)
        for n in range(5):
            convo = self.inbound(f"x{n}", f"c{n}@example.com")
            with self.captureOnCommitCallbacks(execute=True):
                actions.set_labels(convo, self.alice, ["vip", f"l{n}"])
                actions.assign(convo, self.alice, assignee=self.bob)
        self.call("get", "/api/v1/conversations/", token=token)  # last_used_at written
        # token, team ids, the page (with contact and assignee), labels
        with self.assertNumQueries(4):
            response = self.call("get", "/api/v1/conversations/", token=token)
        self.assertEqual(len(response.json()["results"]), 7)
        labelled = [r for r in response.json()["results"] if r["labels"]]
        expected = [[f"l{n}", "vip"] for n in range(5)]  # sorted by name, as Label orders
        self.assertEqual(sorted(r["labels"] for r in labelled), expected)
        for row in labelled:  # the list's labels are the detail's labels
            detail = self.call("get", f"/api/v1/conversations/{row['id']}/", token=token)
            self.assertEqual(detail.json(), row)

    def test_filters(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            actions.assign(self.ana, self.alice, assignee=self.alice)
            actions.set_labels(self.ben, self.alice, ["refund"])
            actions.set_status(self.ben, self.alice, "pending")
        url = "/api/v1/conversations/"
        token = self.token(self.alice)
        cases = {
            "assignee=me": [self.ana.pk],
            f"assignee={self.alice.pk}": [self.ana.pk],
            "assignee=none": [self.ben.pk],
            "status=pending": [self.ben.pk],
            "status=open": [self.ana.pk],
            "status=active": [self.ben.pk, self.ana.pk],
            "status=resolved": [],
            "label=refund": [self.ben.pk],
            f"team={self.support.pk}": [self.ben.pk, self.ana.pk],
            f"team={self.sales.pk}": [],
            f"inbox={self.api_inbox.pk}": [self.ben.pk, self.ana.pk],
            "channel=api": [self.ben.pk, self.ana.pk],
            "channel=email": [],
        }
        for query, expected in cases.items():
            with self.subTest(query):
                self.assertEqual(
                    self.ids(self.call("get", f"{url}?{query}", token=token)), expected
                )

    def test_bad_filters_are_a_validation_error(self) -> None:
        token = self.token(self.alice)
        for query, field in (
            ("status=closed", "status"),
            ("assignee=bob", "assignee"),
            ("team=x", "team"),
            ("channel=fax", "channel"),
        ):
            with self.subTest(query):
                error = self.assertError(
                    self.call("get", f"/api/v1/conversations/?{query}", token=token), 400, "invalid"
                )
                self.assertIn(field, error["fields"])

    def test_a_bad_cursor_is_a_404_in_the_error_format(self) -> None:
        response = self.call("get", "/api/v1/conversations/?cursor=garbage", agent=self.alice)
        self.assertError(response, 404, "not_found")

    def test_pages_stay_stable_while_new_conversations_arrive(self) -> None:
        for n in range(8):
            self.inbound(f"p{n}", f"p{n}@example.com")
        before = list(
            Conversation.objects.filter(team=self.support)
            .order_by("-id")
            .values_list("id", flat=True)
        )
        token = self.token(self.alice)
        seen: list[int] = []
        url: str | None = "/api/v1/conversations/?page_size=3"
        n = 0
        while url:
            response = self.call("get", url, token=token)
            seen += self.ids(response)
            url = response.json()["next"]
            # New data between page fetches: new conversations and new messages.
            self.inbound(f"new{n}", f"new{n}@example.com")
            self.inbound(f"again{n}", "p3@example.com", "another message")
            n += 1
        old_seen = [pk for pk in seen if pk in before]
        self.assertEqual(old_seen, before)  # every old row, once, in order
        self.assertEqual(len(seen), len(set(seen)))  # no duplicates


class ConversationDetailTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.conversation = self.inbound("m1", "ana@example.com", "Where is my order?")
        self.url = f"/api/v1/conversations/{self.conversation.pk}/"

    def test_detail_and_outsider_404(self) -> None:
        response = self.call("get", self.url, agent=self.alice)
        self.assertEqual(response.json()["id"], self.conversation.pk)
        self.assertError(self.call("get", self.url, agent=self.charlie), 404, "not_found")
        self.assertError(self.call("get", "/api/v1/conversations/999999/", agent=self.alice), 404)
        self.assertError(self.call("get", "/api/v1/conversations/abc/", agent=self.alice), 404)

    def test_every_action_is_404_for_an_agent_outside_the_team(self) -> None:
        for path, data in (
            ("status/", {"status": "resolved"}),
            ("assign/", {"assignee": self.charlie.pk}),
            ("labels/", {"labels": ["x"]}),
            ("priority/", {"priority": "high"}),
            ("reply/", {"body": "hi"}),
            ("notes/", {"body": "hi"}),
        ):
            with self.subTest(path):
                response = self.call("post", self.url + path, data, agent=self.charlie)
                self.assertError(response, 404, "not_found")
        self.assertError(self.call("get", self.url + "timeline/", agent=self.charlie), 404)
        self.conversation.refresh_from_db()
        self.assertEqual(self.conversation.status, "open")
        self.assertEqual(self.conversation.entries.count(), 1)

    def test_status_resolve_and_snooze(self) -> None:
        response = self.call("post", self.url + "status/", {"status": "resolved"}, agent=self.alice)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["status"], "resolved")
        until = (timezone.now() + timedelta(hours=3)).isoformat()
        response = self.call(
            "post",
            self.url + "status/",
            {"status": "snoozed", "snoozed_until": until},
            agent=self.alice,
        )
        self.assertEqual(response.json()["status"], "snoozed")
        self.assertIsNotNone(response.json()["snoozed_until"])

    def test_snooze_validation(self) -> None:
        error = self.assertError(
            self.call("post", self.url + "status/", {"status": "snoozed"}, agent=self.alice), 400
        )
        self.assertIn("snoozed_until", error["fields"])
        past = (timezone.now() - timedelta(hours=1)).isoformat()
        error = self.assertError(
            self.call(
                "post",
                self.url + "status/",
                {"status": "snoozed", "snoozed_until": past},
                agent=self.alice,
            ),
            400,
            "invalid",
        )
        self.assertIn("future", error["message"])
        error = self.assertError(
            self.call("post", self.url + "status/", {"status": "closed"}, agent=self.alice), 400
        )
        self.assertIn("status", error["fields"])

    def test_assign_labels_priority(self) -> None:
        response = self.call(
            "post",
            self.url + "assign/",
            {"assignee": self.bob.pk, "team": self.support.pk},
            agent=self.alice,
        )
        self.assertEqual(response.json()["assignee"]["id"], self.bob.pk)
        response = self.call(
            "post", self.url + "labels/", {"labels": ["vip", "refund"]}, agent=self.alice
        )
        self.assertEqual(sorted(response.json()["labels"]), ["refund", "vip"])
        response = self.call(
            "post", self.url + "priority/", {"priority": "urgent"}, agent=self.alice
        )
        self.assertEqual(response.json()["priority"], "urgent")
        response = self.call("post", self.url + "assign/", {"assignee": None}, agent=self.alice)
        self.assertIsNone(response.json()["assignee"])
        error = self.assertError(
            self.call("post", self.url + "assign/", {"assignee": 999999}, agent=self.alice), 400
        )
        self.assertIn("assignee", error["fields"])
        error = self.assertError(
            self.call("post", self.url + "labels/", {"labels": "vip"}, agent=self.alice), 400
        )
        self.assertIn("labels", error["fields"])

    def test_reply_on_a_chosen_channel_and_a_note(self) -> None:
        response = self.call("post", self.url + "reply/", {"body": "On its way"}, agent=self.alice)
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["kind"], "outbound")
        self.assertEqual(response.json()["channel"], "api")
        self.assertEqual(response.json()["author"]["id"], self.alice.pk)
        response = self.call(
            "post", self.url + "reply/", {"body": "By mail", "channel": "email"}, agent=self.alice
        )
        self.assertEqual(response.json()["channel"], "email")
        self.assertTrue(self.conversation.entries.filter(event="channel_switched").exists())
        # An action's refusal: a clear 400 in the error format, nothing written.
        silent = Conversation.objects.create(contact=self.conversation.contact, team=self.support)
        before = Entry.objects.count()
        error = self.assertError(
            self.call(
                "post", f"/api/v1/conversations/{silent.pk}/reply/", {"body": "x"}, agent=self.alice
            ),
            400,
            "invalid",
        )
        self.assertIn("channel", error["message"])
        self.assertEqual(Entry.objects.count(), before)
        error = self.assertError(
            self.call(
                "post", self.url + "reply/", {"body": "x", "channel": "fax"}, agent=self.alice
            ),
            400,
        )
        self.assertIn("channel", error["fields"])
        response = self.call("post", self.url + "notes/", {"body": "VIP customer"}, agent=self.bob)
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["kind"], "note")
        error = self.assertError(
            self.call("post", self.url + "notes/", {"body": ""}, agent=self.bob), 400
        )
        self.assertIn("body", error["fields"])
        error = self.assertError(
            self.call("post", self.url + "notes/", {"body": "   "}, agent=self.bob), 400
        )

    def test_malformed_json_is_a_400(self) -> None:
        token = self.token(self.alice)
        response = self.client.post(
            self.url + "notes/",
            data="{not json",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        self.assertError(response, 400, "parse_error")

    def test_timeline_is_the_contacts_across_their_visible_conversations(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            actions.set_status(self.conversation, self.alice, "resolved")
        later = Conversation.objects.create(contact=self.conversation.contact, team=self.support)
        with self.captureOnCommitCallbacks(execute=True):
            actions.add_note(later, self.alice, "second conversation")
        hidden = Conversation.objects.create(contact=self.conversation.contact, team=self.sales)
        with self.captureOnCommitCallbacks(execute=True):
            actions.add_note(hidden, self.charlie, "sales secret")
        token = self.token(self.alice)
        self.call("get", self.url + "timeline/", token=token)
        # token, team ids, the conversation, visible entries with authors
        with self.assertNumQueries(4):
            response = self.call("get", self.url + "timeline/", token=token)
        bodies = [e["body"] for e in response.json()["results"]]
        self.assertEqual(bodies[0], "Where is my order?")
        self.assertIn("second conversation", bodies)
        self.assertNotIn("sales secret", bodies)
        conversations = {e["conversation"] for e in response.json()["results"]}
        self.assertEqual(conversations, {self.conversation.pk, later.pk})


class ConversationSerializerTests(ApiTestCase):
    def test_the_fast_representation_equals_the_generic_one(self) -> None:
        from conversations.serializers import ConversationSerializer

        conversation = self.inbound("m1", "ana@example.com")
        plain = Conversation.objects.create(contact=conversation.contact)
        with self.captureOnCommitCallbacks(execute=True):
            actions.assign(conversation, self.alice, assignee=self.bob)
            actions.set_labels(conversation, self.alice, ["vip", "b"])
            actions.set_status(
                conversation,
                self.alice,
                "snoozed",
                snoozed_until=timezone.now() + timedelta(days=1),
            )
        from conversations.api import LIST_FIELDS

        for obj in (Conversation.objects.get(pk=conversation.pk), plain):
            serializer = ConversationSerializer()
            fast = serializer.to_representation(obj)
            generic = serializer.generic_representation(obj)
            self.assertEqual(fast, generic)
            self.assertEqual(list(fast), list(ConversationSerializer.Meta.fields))
            # The list endpoint's path, from plain rows.
            row = Conversation.objects.filter(pk=obj.pk).values(*LIST_FIELDS).get()
            row["label_names"] = sorted(label.name for label in obj.labels.all())
            self.assertEqual(ConversationSerializer.row_representation(row), generic)
