from __future__ import annotations

from conversations.models import CannedResponse, Contact, Conversation, Identity
from tests.api.base import ApiTestCase


class ContactTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.conversation = self.inbound("m1", "ana@example.com", "Hi", name="Ana Horvat")
        self.ana = self.conversation.contact
        self.url = f"/api/v1/contacts/{self.ana.pk}/"

    def test_list_and_search_with_constant_queries(self) -> None:
        for n in range(4):
            self.inbound(f"c{n}", f"c{n}@example.com", name=f"Customer {n}")
        token = self.token(self.alice)
        self.call("get", "/api/v1/contacts/", token=token)
        with self.assertNumQueries(4):  # token, team ids, the page, identities
            response = self.call("get", "/api/v1/contacts/", token=token)
        self.assertEqual(len(response.json()["results"]), 5)
        response = self.call("get", "/api/v1/contacts/?q=horvat", token=token)
        self.assertEqual([c["id"] for c in response.json()["results"]], [self.ana.pk])
        response = self.call("get", "/api/v1/contacts/?q=c2@example", token=token)
        self.assertEqual(len(response.json()["results"]), 1)
        self.assertEqual(response.json()["results"][0]["identities"][0]["value"], "c2@example.com")

    def test_an_outsider_gets_404_and_an_empty_list(self) -> None:
        self.assertError(self.call("get", self.url, agent=self.charlie), 404, "not_found")
        self.assertEqual(
            self.call("get", "/api/v1/contacts/", agent=self.charlie).json()["results"], []
        )
        self.assertError(self.call("patch", self.url, {"name": "Mallory"}, agent=self.charlie), 404)
        self.assertError(self.call("get", self.url + "export/", agent=self.charlie), 404)

    def test_create_with_identities(self) -> None:
        response = self.call(
            "post",
            "/api/v1/contacts/",
            {
                "name": "Ben",
                "attributes": {"plan": "gold"},
                "identities": [
                    {"kind": "email", "value": "BEN@Example.com", "verified": True},
                    {"kind": "phone", "value": "+385 91 123 4567"},
                ],
            },
            agent=self.sam,
        )
        self.assertEqual(response.status_code, 201, response.content)
        body = response.json()
        self.assertEqual(body["name"], "Ben")
        self.assertEqual(body["attributes"], {"plan": "gold"})
        values = {(i["kind"], i["value"], i["verified"]) for i in body["identities"]}
        self.assertEqual(
            values, {("email", "ben@example.com", True), ("phone", "+385911234567", False)}
        )

    def test_create_validation_writes_nothing(self) -> None:
        count = Contact.objects.count()
        for data, field in (
            ({"name": "X", "identities": []}, "identities"),
            ({"name": "X"}, "identities"),
            ({"identities": [{"kind": "email", "value": "not-an-email"}]}, "identities.0.value"),
            ({"identities": [{"kind": "fax", "value": "1"}]}, "identities.0.kind"),
            (
                {"identities": [{"kind": "email", "value": "x@example.com"}], "attributes": [1]},
                "attributes",
            ),
            ({"identities": [{"kind": "email", "value": "ana@example.com"}]}, "identities"),
        ):
            with self.subTest(data):
                error = self.assertError(
                    self.call("post", "/api/v1/contacts/", data, agent=self.alice), 400, "invalid"
                )
                self.assertIn(field, error["fields"])
        self.assertEqual(Contact.objects.count(), count)

    def test_update_merges_attributes(self) -> None:
        self.call("patch", self.url, {"attributes": {"plan": "gold"}}, agent=self.alice)
        response = self.call(
            "patch", self.url, {"name": "Ana H.", "attributes": {"crm": "42"}}, agent=self.alice
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["name"], "Ana H.")
        self.assertEqual(response.json()["attributes"], {"plan": "gold", "crm": "42"})
        self.assertError(self.call("put", self.url, {"name": "x"}, agent=self.alice), 405)

    def test_add_and_remove_identities(self) -> None:
        response = self.call(
            "post",
            self.url + "identities/",
            {"kind": "phone", "value": "+38591 000 1111"},
            agent=self.alice,
        )
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["value"], "+385910001111")
        other = self.inbound("m2", "ben@example.com").contact
        error = self.assertError(
            self.call(
                "post",
                self.url + "identities/",
                {"kind": "email", "value": "ben@example.com"},
                agent=self.alice,
            ),
            400,
            "invalid",
        )
        self.assertIn("merge", error["message"])
        self.assertEqual(Identity.objects.get(value="ben@example.com").contact, other)
        identity_id = response.json()["id"]
        response = self.call("delete", f"{self.url}identities/{identity_id}/", agent=self.alice)
        self.assertEqual(response.status_code, 204)
        last = self.ana.identities.get()
        error = self.assertError(
            self.call("delete", f"{self.url}identities/{last.pk}/", agent=self.alice), 400
        )
        self.assertIn("at least one", error["message"])
        # Another contact's identity through this contact's URL: 404.
        foreign = Identity.objects.get(value="ben@example.com")
        self.assertError(
            self.call("delete", f"{self.url}identities/{foreign.pk}/", agent=self.alice), 404
        )

    def test_merge(self) -> None:
        ben = self.inbound("m2", "ben@example.com").contact
        response = self.call("post", self.url + "merge/", {"source": ben.pk}, agent=self.alice)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(
            {i["value"] for i in response.json()["identities"]},
            {"ana@example.com", "ben@example.com"},
        )
        ben.refresh_from_db()
        self.assertEqual(ben.merged_into_id, self.ana.pk)
        self.assertError(
            self.call("post", self.url + "merge/", {"source": self.ana.pk}, agent=self.alice), 400
        )
        # A contact the agent can't see can't be merged in: 404.
        hidden = Contact.objects.create(name="Hidden")
        Conversation.objects.create(contact=hidden, team=self.sales)
        self.assertError(
            self.call("post", self.url + "merge/", {"source": hidden.pk}, agent=self.alice), 404
        )
        self.assertError(
            self.call("post", self.url + "merge/", {"source": "x"}, agent=self.alice), 400
        )

    def test_export(self) -> None:
        response = self.call("get", self.url + "export/", agent=self.alice)
        self.assertEqual(response.status_code, 200)
        data = response.json()
        self.assertEqual(data["contact"]["id"], self.ana.pk)
        self.assertEqual(data["conversations"][0]["entries"][0]["body"], "Hi")


class DirectoryTests(ApiTestCase):
    def test_agents_teams_inboxes_and_canned_responses(self) -> None:
        CannedResponse.objects.create(
            shortcut="thanks", title="Thanks", body="Thanks {{ contact_name }}"
        )
        token = self.token(self.alice)
        self.call("get", "/api/v1/agents/", token=token)
        with self.assertNumQueries(3):  # token, the page, teams
            agents = self.call("get", "/api/v1/agents/", token=token).json()["results"]
        self.assertEqual(len(agents), 4)
        alice = next(a for a in agents if a["email"] == "alice@example.org")
        self.assertEqual(alice["teams"], [self.support.pk])
        self.assertNotIn("password", alice)
        with self.assertNumQueries(3):  # token, the page, members
            teams = self.call("get", "/api/v1/teams/", token=token).json()["results"]
        support = next(t for t in teams if t["name"] == "Support")
        self.assertEqual(sorted(support["members"]), sorted([self.alice.pk, self.bob.pk]))
        with self.assertNumQueries(2):  # token, the page
            inboxes = self.call("get", "/api/v1/inboxes/", token=token).json()["results"]
        self.assertEqual([i["slug"] for i in inboxes], ["shop"])
        self.assertNotIn("secrets", inboxes[0])
        self.assertNotIn("config", inboxes[0])
        detail = self.call("get", f"/api/v1/inboxes/{self.api_inbox.pk}/", token=token)
        self.assertNotIn("s3cret", detail.content.decode())
        # Charlie (Sales) doesn't see Support's inbox.
        self.assertError(
            self.call("get", f"/api/v1/inboxes/{self.api_inbox.pk}/", agent=self.charlie), 404
        )
        with self.assertNumQueries(2):
            canned = self.call("get", "/api/v1/canned-responses/", token=token).json()["results"]
        self.assertEqual(canned[0]["shortcut"], "thanks")
        self.assertError(
            self.call("post", "/api/v1/canned-responses/", {"shortcut": "x"}, token=token), 405
        )
