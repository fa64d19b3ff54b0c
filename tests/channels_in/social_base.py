"""Shared setup for the Meta (WhatsApp Cloud, Messenger, Instagram) and Telegram tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from channels_in import actions as channel_actions
from channels_in.adapters.meta import sign
from channels_in.models import InboundEvent, Inbox
from conversations.models import Contact, Entry
from tests.base import HelpdeskTestCase

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels_in"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token"  # noqa: S105
ACCESS_TOKEN = "EAAG-test-access-token"  # noqa: S105
GRAPH = "https://graph.facebook.com/v25.0"


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / channel / f"{name}.json").read_text())
    return data


def meta_body(payload: Any) -> bytes:
    # Meta sends compact JSON with non-ASCII escaped (\u00e4); we sign these bytes.
    return json.dumps(payload, separators=(",", ":")).encode()


class MetaTestCase(HelpdeskTestCase):
    kind = ""
    slug = ""
    channel = ""
    config: dict[str, str] = {}  # noqa: RUF012
    inbox: Inbox

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.inbox = channel_actions.create_inbox(
            cls.kind,
            cls.slug,
            team_id=cls.support.pk,
            values={
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
                "access_token": ACCESS_TOKEN,
                **cls.config,
            },
        )

    def post_meta(
        self,
        payload: Any = None,
        *,
        name: str = "",
        secret: str | None = APP_SECRET,
        raw: bytes | None = None,
        slug: str = "",
    ) -> Any:
        if name:
            payload = fixture(self.channel, name)
        body = raw if raw is not None else meta_body(payload)
        headers: dict[str, Any] = {}
        if secret is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = sign(secret, body)
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                f"/hooks/meta/{slug or self.slug}/",
                data=body,
                content_type="application/json",
                **headers,
            )

    def assert_ok(self, response: Any) -> None:
        self.assertEqual(response.status_code, 200, response.content)

    def only_entry(self, **filters: Any) -> Entry:
        return Entry.objects.get(kind__in=("inbound", "outbound"), **filters)

    def assert_nothing_stored(self) -> None:
        self.assertFalse(InboundEvent.objects.exists())
        self.assertFalse(Entry.objects.exists())
        self.assertFalse(Contact.objects.exists())

    def graph_ok(self, answer: dict[str, Any]) -> None:
        self.http.responder = lambda request: httpx.Response(200, json=answer)
