"""import_conversations links each conversation to the one it continues (`previous`),
as a live conversation is, whatever order the lines come in."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from django.core.management import call_command

from conversations.models import Conversation
from tests.base import HelpdeskTestCase


def _line(external_id: str, created: str, resolved: str | None) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"kind": "inbound", "channel": "chat", "at": created, "body": "Hello"}
    ]
    if resolved:
        entries.append({"kind": "event", "event": "resolved", "at": resolved})
    return {
        "external_id": external_id,
        "contact": {"name": "Ana", "identities": [{"kind": "email", "value": "ana@example.com"}]},
        "status": "resolved" if resolved else "open",
        "created_at": created,
        "entries": entries,
    }


class ImportPreviousTests(HelpdeskTestCase):
    def run_import(self, lines: list[dict[str, Any]]) -> None:
        with TemporaryDirectory() as tmp:
            path = Path(tmp) / "history.jsonl"
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            call_command("import_conversations", str(path), stdout=StringIO())

    def test_it_links_each_conversation_to_the_latest_resolved_before_it(self) -> None:
        lines = [
            # Newest first on purpose: links don't depend on line order.
            _line("c", "2026-03-10T09:00:00+00:00", None),
            _line("b", "2026-03-05T09:00:00+00:00", "2026-03-06T09:00:00+00:00"),
            _line("a", "2026-03-01T09:00:00+00:00", "2026-03-01T10:00:00+00:00"),
        ]
        self.run_import(lines)
        by_id = {c.external_id: c for c in Conversation.objects.all()}
        self.assertIsNone(by_id["a"].previous_id)
        self.assertEqual(by_id["b"].previous_id, by_id["a"].pk)
        self.assertEqual(by_id["c"].previous_id, by_id["b"].pk)

    def test_reimport_changes_nothing(self) -> None:
        lines = [
            _line("a", "2026-03-01T09:00:00+00:00", "2026-03-01T10:00:00+00:00"),
            _line("b", "2026-03-05T09:00:00+00:00", None),
        ]
        self.run_import(lines)
        before = dict(Conversation.objects.values_list("external_id", "previous_id"))
        self.run_import(lines)
        after = dict(Conversation.objects.values_list("external_id", "previous_id"))
        self.assertEqual(before, after)
        self.assertIsNotNone(after["b"])
