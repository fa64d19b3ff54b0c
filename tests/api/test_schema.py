"""The OpenAPI schema: checked in, served, and honoured by every endpoint.

Regenerate the checked-in copy after an intended API change with
    .venv/bin/python manage.py spectacular --validate --file docs/openapi.yaml
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.throttling import UserRateThrottle
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conversations import actions
from conversations.models import Conversation
from tests.api.base import ApiTestCase

SCHEMA_FILE = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
REGENERATE = "manage.py spectacular --validate --file docs/openapi.yaml"


def generated_schema(tmp: Path) -> str:
    out = tmp / "openapi.yaml"
    call_command("spectacular", "--validate", "--file", str(out), stderr=StringIO())
    return out.read_text()


class SchemaTests(ApiTestCase):
    def test_the_checked_in_schema_is_what_the_code_generates(self) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            generated = generated_schema(Path(tmp))
        self.assertTrue(
            generated == SCHEMA_FILE.read_text(),
            f"docs/openapi.yaml is out of date: review the API change, then run {REGENERATE}",
        )

    def test_schema_and_doc_pages_are_served_without_a_cdn(self) -> None:
        response = self.client.get("/api/schema/?format=json")
        self.assertEqual(response.status_code, 200)
        schema = response.json()
        self.assertIn("/api/v1/conversations/", schema["paths"])
        self.assertIn("bearerAuth", schema["components"]["securitySchemes"])
        for page in ("/api/docs/", "/api/docs/swagger/"):
            html = self.client.get(page).content.decode()
            self.assertIn("/static/drf_spectacular_sidecar/", html)
            self.assertNotIn("cdn.jsdelivr.net", html)

    def test_every_operation_and_field_is_described(self) -> None:
        schema = self.client.get("/api/schema/?format=json").json()
        for path, operations in schema["paths"].items():
            if path.startswith("/api/v1/kpi/"):
                continue  # the KPI app documents its own endpoint
            for method, operation in operations.items():
                with self.subTest(f"{method} {path}"):
                    self.assertTrue(operation.get("summary"), "no summary")
        for name, component in schema["components"]["schemas"].items():
            for field, spec in component.get("properties", {}).items():
                if "$ref" in spec or "allOf" in spec:
                    continue
                with self.subTest(f"{name}.{field}"):
                    self.assertTrue(spec.get("description"), "no description")


class SchemathesisTests(ApiTestCase):
    """Property-based: every operation, random valid input, no 5xx and no response
    that breaks the schema (status codes, content types, bodies, auth).

    All default checks run except "schema-valid data is accepted": some rules can't
    be said in OpenAPI (a real e-mail address or phone number, a snooze time in the
    future, an address not owned by another contact) and are answered with the
    documented 400 error instead.
    """

    max_examples = 25

    def setUp(self) -> None:
        super().setUp()
        # Some real data, so generated ids sometimes hit (supervisor sees everything).
        for n in range(3):
            conversation = self.inbound(f"s{n}", f"s{n}@example.com")
        with self.captureOnCommitCallbacks(execute=True):
            actions.set_labels(conversation, self.alice, ["vip"])
        self.token_value = self.token(self.sam, "write")
        assert Conversation.objects.count() == 3

    def test_every_endpoint_honours_the_schema(self) -> None:
        # As Django's test client does: keep the test's connection (and transaction)
        # open across requests instead of closing it at request end.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        self.addCleanup(request_started.connect, close_old_connections)
        self.addCleanup(request_finished.connect, close_old_connections)
        app = WSGIHandler()
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
        headers = {"Authorization": f"Bearer {self.token_value}"}
        failures: list[str] = []
        operations = 0
        with mock.patch.object(UserRateThrottle, "THROTTLE_RATES", {"user": None, "anon": None}):
            for result in schema.get_all_operations():
                operation = result.ok()  # type: ignore[union-attr]  # an Err would fail the test
                operations += 1

                @given(case=operation.as_strategy())
                @hypothesis_settings(
                    max_examples=self.max_examples,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: Any) -> None:
                    with self.captureOnCommitCallbacks(execute=True):
                        case.call_and_validate(
                            headers=headers, excluded_checks=[positive_data_acceptance]
                        )

                try:
                    check()
                except BaseException as exc:  # noqa: BLE001 - schemathesis raises exception groups
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        self.assertGreaterEqual(operations, 20)
        self.assertEqual(failures, [], "\n\n".join(failures))
