"""API test helpers: personal tokens and JSON requests through the Django test client."""

from __future__ import annotations

import json
from typing import Any

from django.core.cache import cache

from conversations.models import Conversation
from helpdesk import tokens
from helpdesk.models import Agent
from tests.base import HelpdeskTestCase


class ApiTestCase(HelpdeskTestCase):
    def setUp(self) -> None:
        super().setUp()
        cache.clear()  # rate-limit counters live in the cache

    def token(self, agent: Agent, scope: str = "write") -> str:
        return tokens.create_token(agent, scope=scope, name="test")[1]

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        agent: Agent | None = None,
        token: str | None = None,
        scope: str = "write",
    ) -> Any:
        headers: dict[str, str] = {}
        if token is None and agent is not None:
            token = self.token(agent, scope)
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {}
        if data is not None:
            if method == "get":
                kwargs["data"] = data
            else:
                kwargs["data"] = json.dumps(data)
                kwargs["content_type"] = "application/json"
        with self.captureOnCommitCallbacks(execute=True):
            return getattr(self.client, method)(path, **kwargs, **headers)

    def inbound(
        self, event_id: str, email: str, body: str = "Hello", **contact: Any
    ) -> Conversation:
        response = self.post_api(
            {"id": event_id, "contact": {"email": email, **contact}, "body": body}
        )
        assert response.status_code in (200, 201, 202), response.content
        return Conversation.objects.filter(contact__identities__value=email).latest("id")

    def assertError(self, response: Any, status: int, code: str | None = None) -> dict[str, Any]:
        self.assertEqual(response.status_code, status, response.content)
        body: dict[str, Any] = response.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(set(body["error"]), {"code", "message", "fields"})
        if code is not None:
            self.assertEqual(body["error"]["code"], code)
        return body["error"]
