from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.throttling import UserRateThrottle

from helpdesk.models import Agent, ApiToken
from helpdesk.tokens import hash_token
from tests.api.base import ApiTestCase


class TokenAuthTests(ApiTestCase):
    def test_no_credentials_get_401_in_the_error_format(self) -> None:
        response = self.client.get("/api/v1/conversations/")
        self.assertError(response, 401, "not_authenticated")
        self.assertEqual(response["WWW-Authenticate"], "Bearer")

    def test_a_wrong_token_gets_401(self) -> None:
        response = self.call("get", "/api/v1/conversations/", token="hd_nope")
        self.assertError(response, 401, "authentication_failed")

    def test_a_token_is_stored_only_as_its_hash(self) -> None:
        raw = self.token(self.alice)
        token = ApiToken.objects.get()
        self.assertEqual(token.token_hash, hash_token(raw))
        self.assertNotIn(raw, str(ApiToken.objects.values().get()))
        self.assertEqual(self.call("get", "/api/v1/agents/", token=raw).status_code, 200)

    def test_a_revoked_token_gets_401(self) -> None:
        raw = self.token(self.alice)
        call_command("api_token", "revoke", str(ApiToken.objects.get().pk), stdout=StringIO())
        self.assertError(self.call("get", "/api/v1/agents/", token=raw), 401)

    def test_a_deactivated_agents_token_gets_401(self) -> None:
        raw = self.token(self.alice)
        self.alice.is_active = False
        self.alice.save()
        self.assertError(self.call("get", "/api/v1/agents/", token=raw), 401)

    def test_a_read_token_gets_403_on_writes(self) -> None:
        conversation = self.inbound("m1", "ana@example.com")
        raw = self.token(self.alice, "read")
        self.assertEqual(self.call("get", "/api/v1/conversations/", token=raw).status_code, 200)
        response = self.call(
            "post",
            f"/api/v1/conversations/{conversation.pk}/notes/",
            {"body": "hi"},
            token=raw,
        )
        self.assertError(response, 403, "permission_denied")
        self.assertFalse(conversation.entries.filter(kind="note").exists())

    def test_last_used_is_written_at_most_once_a_minute(self) -> None:
        raw = self.token(self.alice)
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            self.call("get", "/api/v1/agents/", token=raw)
            first = ApiToken.objects.get().last_used_at
            self.assertEqual(first, start)
            with self.assertNumQueries(3):  # token, teams, members; no UPDATE
                self.call("get", "/api/v1/teams/", token=raw)
        with time_machine.travel(start + timedelta(seconds=61), tick=False):
            self.call("get", "/api/v1/agents/", token=raw)
        self.assertEqual(ApiToken.objects.get().last_used_at, start + timedelta(seconds=61))

    def test_session_auth_still_works_for_the_browser(self) -> None:
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get("/api/v1/agents/").status_code, 200)

    def test_rate_limit_answers_429_in_the_error_format(self) -> None:
        raw = self.token(self.alice)
        with mock.patch.object(
            UserRateThrottle, "THROTTLE_RATES", {"user": "2/min", "anon": "2/min"}
        ):
            self.call("get", "/api/v1/agents/", token=raw)
            self.call("get", "/api/v1/agents/", token=raw)
            response = self.call("get", "/api/v1/agents/", token=raw)
        self.assertError(response, 429, "throttled")
        self.assertIn("Retry-After", response)

    def test_unknown_method_gets_405_in_the_error_format(self) -> None:
        response = self.call("delete", "/api/v1/agents/", agent=self.alice)
        self.assertError(response, 405, "method_not_allowed")


class ApiTokenCommandTests(ApiTestCase):
    def test_create_prints_the_token_once_and_list_never_shows_it(self) -> None:
        out = StringIO()
        call_command(
            "api_token",
            "create",
            "--agent",
            "ALICE@example.org",
            "--scope",
            "write",
            "--name",
            "CRM",
            stdout=out,
            stderr=StringIO(),
        )
        raw = out.getvalue().strip()
        token = ApiToken.objects.get()
        self.assertEqual(token.scope, "write")
        self.assertEqual(token.name, "CRM")
        self.assertEqual(token.agent, self.alice)
        self.assertEqual(token.token_hash, hash_token(raw))
        listing = StringIO()
        call_command("api_token", "list", stdout=listing)
        self.assertIn("alice@example.org", listing.getvalue())
        self.assertNotIn(raw, listing.getvalue())

    def test_create_refuses_an_unknown_agent(self) -> None:
        from django.core.management import CommandError

        with self.assertRaises(CommandError):
            call_command("api_token", "create", "--agent", "nobody@example.org")
        self.assertFalse(ApiToken.objects.exists())


class ApiTokenAdminTests(ApiTestCase):
    def test_admins_see_and_revoke_tokens_but_never_the_secret(self) -> None:
        raw = self.token(self.alice)
        root = Agent.objects.create_superuser("root@example.org", "password")
        self.client.force_login(root)
        page = self.client.get("/admin/helpdesk/apitoken/")
        self.assertContains(page, "Alice")
        self.assertNotContains(page, raw)
        token = ApiToken.objects.get()
        self.client.post(
            "/admin/helpdesk/apitoken/",
            {"action": "revoke", "_selected_action": [token.pk]},
        )
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        self.client.logout()
        self.assertError(self.call("get", "/api/v1/agents/", token=raw), 401)
