"""import_conversations writes many lines per transaction: the rows it writes directly
(COPY on PostgreSQL) must equal what the models would write, links must hold across
batches, and one failing line must not take the rest of its batch with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import importer
from conversations.importer import _previous_links, import_lines
from conversations.models import Contact, Conversation, Entry, Identity
from kpi.models import ImportedConversation, SurveyResponse
from tests.base import HelpdeskTestCase

AGENT = "marko@example.com"


def _line(external_id: str, who: str, created: str, *, resolved: str | None = None, **extra: Any):
    entries: list[dict[str, Any]] = [
        {"kind": "inbound", "channel": "chat", "at": created, "body": "Hello"},
        # Same instant as the inbound message: ties keep file order.
        {"kind": "note", "at": created, "body": "first note", "author": AGENT},
        {"kind": "outbound", "channel": "chat", "at": created, "body": "Hi!", "author": AGENT},
    ]
    if resolved:
        entries.append({"kind": "event", "event": "resolved", "at": resolved, "author": AGENT})
        entries.append({"kind": "survey", "survey": "csat", "score": 4, "at": resolved})
    return json.dumps(
        {
            "external_id": external_id,
            "contact": {"identities": [{"kind": "email", "value": who}]},
            "status": "resolved" if resolved else "open",
            "assignee": AGENT,
            "team": "Support",
            "created_at": created,
            "entries": entries,
            **extra,
        }
    )


class PreviousLinksTests(HelpdeskTestCase):
    def test_the_latest_resolution_at_or_before_creation_wins_ties_by_higher_id(self):
        from datetime import UTC, datetime

        def t(hour: int) -> datetime:
            return datetime(2026, 3, 1, hour, tzinfo=UTC)

        links = _previous_links(
            [
                (1, 7, t(1), t(2)),
                (2, 7, t(3), t(4)),
                (3, 7, t(3), t(4)),  # same resolution as 2: the higher id wins
                (4, 7, t(4), None),  # created the instant 2 and 3 were resolved
                (5, 7, t(5), t(5)),  # resolved as created: not its own previous
                (6, 8, t(9), None),  # another contact
            ]
        )
        self.assertEqual(links, {1: None, 2: 1, 3: 1, 4: 3, 5: 3, 6: None})


class ImportBatchTests(HelpdeskTestCase):
    def test_rows_written_directly_equal_what_the_models_give(self):
        outcome = import_lines(
            [
                _line(
                    "a",
                    "ana@example.com",
                    "2026-03-01T09:00:00+00:00",
                    resolved="2026-03-01T10:00:00+00:00",
                )
            ]
        )
        self.assertEqual((outcome.imported, outcome.failed), (1, 0))
        conversation = Conversation.objects.get(external_id="a")
        entries = list(conversation.entries.order_by("occurred_at", "id"))
        self.assertEqual(
            [(e.kind, e.event) for e in entries],
            [
                ("inbound", ""),
                ("note", ""),
                ("outbound", ""),
                ("event", "status_changed"),
                ("event", "survey_answered"),
            ],
        )
        inbound, note, outbound = entries[:3]
        self.assertEqual(len({e.public_id for e in entries}), 5)
        self.assertEqual(
            (inbound.parameters, inbound.delivery_status, inbound.attempts), ({}, "", 0)
        )
        self.assertEqual(outbound.delivery_status, Entry.Delivery.SENT)
        self.assertIsNotNone(note.author_id)
        self.assertIsNone(inbound.provider_id)
        response = SurveyResponse.objects.get(conversation=conversation)
        self.assertEqual(response.entry_id, entries[4].pk)
        contact = conversation.contact
        self.assertEqual((contact.name, contact.attributes, contact.merged_into_id), ("", {}, None))
        self.assertIsNotNone(contact.public_id)
        self.assertEqual(conversation.priority, "normal")
        self.assertTrue(ImportedConversation.objects.filter(external_id="a").exists())

    def test_text_that_copy_escapes_arrives_unchanged(self):
        tricky = 'tab\there\nnew line\r\nback\\slash \\N "quoted" čćž 🙂'
        line = json.loads(
            _line(
                "t",
                "tea@example.com",
                "2026-03-01T09:00:00+01:00",
                resolved="2026-03-01T10:00:00+01:00",
            )
        )
        line["entries"][0]["body"] = tricky
        line["entries"][-1]["comment"] = tricky
        outcome = import_lines([json.dumps(line)])
        self.assertEqual((outcome.imported, outcome.failed), (1, 0))
        entries = list(Entry.objects.order_by("occurred_at", "id"))
        self.assertEqual(entries[0].body, tricky)
        self.assertEqual(entries[0].occurred_at.isoformat(), "2026-03-01T08:00:00+00:00")
        self.assertEqual(entries[-1].parameters["comment"], tricky)
        self.assertEqual(SurveyResponse.objects.get().comment, tricky)
        self.assertEqual({e.public_id.version for e in entries}, {4})

    def test_an_import_analyzes_the_tables_it_grew_by_a_tenth_or_never_analyzed(self):
        grew = {"conversations_conversation": 100, "conversations_entry": 900, "kpi_x": 5}
        estimates = {"conversations_conversation": 999.0, "conversations_entry": 9001.0}
        self.assertEqual(
            importer._stale_tables(grew, estimates), ["conversations_conversation", "kpi_x"]
        )
        estimates["kpi_x"] = -1.0  # never analyzed
        self.assertEqual(
            importer._stale_tables(grew, estimates), ["conversations_conversation", "kpi_x"]
        )

    def test_an_import_inside_a_transaction_leaves_the_statistics_alone(self):
        # ANALYZE's row estimates would outlive a rollback (and other tests' plans).
        with CaptureQueriesContext(connection) as queries:
            import_lines([_line("a", "ana@example.com", "2026-03-01T09:00:00+00:00")])
        self.assertFalse([q for q in queries if "ANALYZE" in q["sql"].upper()])

    def test_previous_links_hold_across_batches_in_any_line_order(self):
        lines = [
            _line("late", "ana@example.com", "2026-03-10T09:00:00+00:00"),
            _line(
                "early",
                "ana@example.com",
                "2026-03-01T09:00:00+00:00",
                resolved="2026-03-02T09:00:00+00:00",
            ),
            _line("other", "bob@example.com", "2026-03-03T09:00:00+00:00"),
        ]
        outcome = import_lines(lines, batch_size=1)
        self.assertEqual(outcome.imported, 3)
        by_id = {c.external_id: c for c in Conversation.objects.all()}
        self.assertEqual(by_id["late"].previous_id, by_id["early"].pk)
        self.assertIsNone(by_id["early"].previous_id)
        self.assertIsNone(by_id["other"].previous_id)
        self.assertEqual(Contact.objects.count(), 2)
        self.assertEqual(Identity.objects.count(), 2)

    def test_a_line_failing_in_the_database_is_reported_and_the_batch_goes_on(self):
        real_team_id = importer._Directory.team_id

        def team_id(directory: importer._Directory, name: str) -> int:
            if name == "Broken":
                raise IntegrityError("no such team")
            return real_team_id(directory, name)

        lines = [
            _line("a", "ana@example.com", "2026-03-01T09:00:00+00:00"),
            _line("b", "bob@example.com", "2026-03-01T09:00:00+00:00", team="Broken"),
            _line("c", "cid@example.com", "2026-03-01T09:00:00+00:00"),
        ]
        with mock.patch.object(importer._Directory, "team_id", autospec=True, side_effect=team_id):
            outcome = import_lines(lines, batch_size=10)
        self.assertEqual((outcome.imported, outcome.failed), (2, 1))
        self.assertEqual(outcome.errors, [(2, "IntegrityError: no such team")])
        self.assertEqual(
            sorted(Conversation.objects.values_list("external_id", flat=True)), ["a", "c"]
        )
        # Nothing of the failed line was written, not even its contact.
        self.assertFalse(Identity.objects.filter(value="bob@example.com").exists())
        self.assertEqual(Entry.objects.count(), 6)
        # The agent created in the rolled-back batch was created again for the retries,
        # and the lines prepared once point at the agent that exists now.
        authors = Entry.objects.exclude(author=None).values_list("author__email", flat=True)
        self.assertEqual(list(authors), [AGENT] * 4)

    def test_a_batch_that_fails_at_commit_is_retried_and_counted_once(self):
        real_atomic = transaction.atomic
        failed: list[bool] = []

        @contextmanager
        def atomic(*args: Any, **kwargs: Any) -> Iterator[None]:
            with real_atomic(*args, **kwargs):
                yield
                # The importer's own transactions take no arguments: fail the first
                # at its end, as a deferred foreign key would at COMMIT.
                if not args and not kwargs and not failed:
                    failed.append(True)
                    raise IntegrityError("deferred check failed")

        lines = [
            _line("a", "ana@example.com", "2026-03-01T09:00:00+00:00"),
            _line("b", "bob@example.com", "2026-03-01T09:00:00+00:00"),
        ]
        with mock.patch.object(transaction, "atomic", atomic):
            outcome = import_lines(lines, batch_size=10)
        self.assertEqual(failed, [True])
        self.assertEqual((outcome.imported, outcome.failed, outcome.errors), (2, 0, []))
        self.assertEqual(outcome.written[Conversation], 2)
        self.assertEqual(Conversation.objects.count(), 2)


class ReadAheadTests(HelpdeskTestCase):
    def test_items_come_in_order_and_a_reading_error_reaches_the_caller(self):
        from conversations.importer import _read_ahead

        self.assertEqual(list(_read_ahead(iter(range(10)), depth=2)), list(range(10)))

        def broken() -> Any:
            yield 1
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

        reader = _read_ahead(broken())
        self.assertEqual(next(reader), 1)
        with self.assertRaises(UnicodeDecodeError):
            next(reader)

    def test_the_thread_stops_when_the_caller_stops_reading(self):
        import threading

        from conversations.importer import _read_ahead

        reader = _read_ahead(iter(range(1000)), depth=1)
        self.assertEqual(next(reader), 0)
        reader.close()
        self.assertFalse(any(t.name == "import-read-ahead" for t in threading.enumerate()))

    def test_a_file_of_bad_lines_is_reported_line_by_line(self):
        errors: list[tuple[int, str]] = []
        lines = ["{not json"] * 5 + ["", _line("a", "ana@example.com", "2026-03-01T09:00:00+00:00")]
        outcome = import_lines(lines, batch_size=2, on_error=lambda n, r: errors.append((n, r)))
        self.assertEqual((outcome.imported, outcome.failed), (1, 5))
        self.assertEqual([n for n, _r in errors], [1, 2, 3, 4, 5])
