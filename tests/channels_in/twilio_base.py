"""Shared setup for the Twilio tests: a signed-webhook poster and Twilio's fixtures.

Requests are signed with the `twilio` package's own RequestValidator, exactly as
Twilio signs them: the full URL it called plus every POST parameter.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from twilio.request_validator import RequestValidator

from channels_in import actions as channel_actions
from channels_in.models import Inbox
from tests.base import HelpdeskTestCase

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels_in" / "twilio"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-token-for-tests"
SECONDARY_TOKEN = "twilio-secondary-token-for-tests"
INBOX_NUMBER = "+38515550100"
WHATSAPP_NUMBER = "+38515550199"
CUSTOMER = "+385911234567"
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"


def fixture(name: str, **overrides: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(overrides)
    return data


def basic_auth(user: str = ACCOUNT_SID, password: str = AUTH_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TwilioTestCase(HelpdeskTestCase):
    """A `twilio` inbox `phone` owned by Support; alice, bob (Support) and charlie
    (Sales) have phone numbers."""

    inbox: Inbox

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.alice.phone = "+385 91 111 1111"
        cls.alice.save(update_fields=["phone"])
        cls.bob.phone = "+385912222222"
        cls.bob.save(update_fields=["phone"])
        cls.charlie.phone = "+385913333333"
        cls.charlie.save(update_fields=["phone"])
        cls.inbox = channel_actions.create_inbox(
            "twilio",
            "phone",
            name="Acme",
            team_id=cls.support.pk,
            values={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "phone_number": INBOX_NUMBER,
                "whatsapp_number": WHATSAPP_NUMBER,
                "menu": {"1": "Support", "2": "Sales"},
                "voicemail_after_seconds": "25",
                "whatsapp_templates": {"order_update": "HX0123456789abcdef0123456789abcdef"},
            },
        )

    def post_twilio(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str | None = AUTH_TOKEN,
        signed_url: str | None = None,
        signature: str | None = None,
        **extra: Any,
    ) -> Any:
        """POST form params like Twilio does, signed for the URL it would call."""
        url = signed_url or (settings.PUBLIC_URL or "http://testserver") + path
        headers: dict[str, Any] = dict(extra)
        if signature is not None:
            headers["HTTP_X_TWILIO_SIGNATURE"] = signature
        elif token is not None:
            headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(token).compute_signature(
                url, params
            )
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                path,
                data=urlencode(params),
                content_type="application/x-www-form-urlencoded",
                **headers,
            )

    def hook(self, name: str, params: dict[str, str], **kwargs: Any) -> Any:
        return self.post_twilio(f"/hooks/twilio/phone/{name}", params, **kwargs)

    def twilio_answers(self, routes: dict[str, httpx.Response]) -> None:
        """Answer requests whose URL ends with a key; anything else is a 404."""

        def respond(request: httpx.Request) -> httpx.Response:
            for suffix, response in routes.items():
                if str(request.url).split("?")[0].endswith(suffix):
                    return response
            return httpx.Response(404, json={"code": 20404, "message": "not found"})

        self.http.responder = respond


def message_resource(sid: str, status: str = "queued", **fields: Any) -> httpx.Response:
    """Twilio's answer to messages.create (a Message resource)."""
    return httpx.Response(
        201,
        json={
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": fields.get("body", ""),
            "direction": "outbound-api",
            "from": fields.get("from", INBOX_NUMBER),
            "to": fields.get("to", CUSTOMER),
            "num_media": "0",
            "num_segments": "1",
            "sid": sid,
            "status": status,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        },
    )


def twilio_error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )
