"""Shared setup: personas built through real actions, and small helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import TestCase

from channels_in import actions as channel_actions
from channels_in.adapters.api import sign
from channels_in.models import Inbox
from helpdesk.models import Agent, Team

API_SECRET = "s3cret-for-tests"


class HelpdeskTestCase(TestCase):
    """alice (agent, Support), bob (agent, Support), charlie (agent, Sales, outsider),
    sam (supervisor, no team); an `api` inbox owned by Support."""

    support: Team
    sales: Team
    alice: Agent
    bob: Agent
    charlie: Agent
    sam: Agent
    api_inbox: Inbox

    @pytest.fixture(autouse=True)
    def _http(self, http_mock: Any) -> None:
        self.http = http_mock

    @classmethod
    def setUpTestData(cls) -> None:
        cls.support = Team.objects.create(name="Support")
        cls.sales = Team.objects.create(name="Sales")
        cls.alice = Agent.objects.create_user("alice@example.org", "password", name="Alice")
        cls.bob = Agent.objects.create_user("bob@example.org", "password", name="Bob")
        cls.charlie = Agent.objects.create_user("charlie@example.org", "password", name="Charlie")
        cls.sam = Agent.objects.create_user(
            "sam@example.org", "password", name="Sam", role=Agent.Role.SUPERVISOR
        )
        cls.support.members.add(cls.alice, cls.bob)
        cls.sales.members.add(cls.charlie)
        cls.api_inbox = channel_actions.create_inbox(
            "api",
            "shop",
            name="Shop",
            team_id=cls.support.pk,
            values={"secret": API_SECRET, "callback_url": "https://shop.example.com/helpdesk"},
        )

    def post_api(
        self,
        payload: Any,
        *,
        secret: str | None = API_SECRET,
        slug: str = "shop",
        raw: bytes | None = None,
    ) -> Any:
        """POST to the API channel, signed like an integration would, running on-commit work."""
        body = raw if raw is not None else json.dumps(payload).encode()
        headers: dict[str, Any] = {}
        if secret is not None:
            headers["HTTP_X_HELPDESK_SIGNATURE"] = sign(secret, body)
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                f"/hooks/api/{slug}/", data=body, content_type="application/json", **headers
            )
