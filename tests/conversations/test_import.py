"""manage.py import_conversations, exactly as IMPORT_FORMAT.md; then kpi_rebuild and
kpi_summary give what KPI.md defines (every number below worked out by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from django.core.management import CommandError, call_command

from conversations.models import Contact, Conversation, Entry, Identity
from helpdesk.models import Agent, Team
from kpi.models import SurveyResponse
from tests.base import HelpdeskTestCase

MARKO = "marko@example.com"

LINES: list[dict[str, Any]] = [
    {
        "external_id": "old-1001",
        "contact": {
            "name": "Ana Kovač",
            "identities": [
                {"kind": "email", "value": "Ana@Example.com"},
                {"kind": "phone", "value": "+385 91 123 4567"},
            ],
            "attributes": {"company": "Primjer d.o.o."},
        },
        "status": "resolved",
        "team": "Support",
        "assignee": MARKO,
        "priority": "normal",
        "labels": ["billing"],
        "created_at": "2026-03-02T09:15:00+01:00",
        "entries": [
            # Out of order on purpose: placed on the timeline by `at`.
            {
                "kind": "event",
                "event": "resolved",
                "at": "2026-03-02T09:41:00+01:00",
                "author": MARKO,
            },
            {
                "kind": "inbound",
                "channel": "chat",
                "at": "2026-03-02T09:15:00+01:00",
                "body": "Hi, my invoice is wrong",
            },
            {
                "kind": "outbound",
                "channel": "chat",
                "at": "2026-03-02T09:17:30+01:00",
                "body": "Let me check",
                "author": MARKO,
            },
            {
                "kind": "note",
                "at": "2026-03-02T09:18:00+01:00",
                "body": "Refund needed",
                "author": MARKO,
            },
            {
                "kind": "outbound",
                "channel": "email",
                "at": "2026-03-02T09:40:00+01:00",
                "body": "Refund sent",
                "author": MARKO,
            },
            {
                "kind": "survey",
                "survey": "csat",
                "score": 5,
                "comment": "Fast!",
                "channel": "email",
                "at": "2026-03-02T10:02:00+01:00",
            },
        ],
    },
    {
        "external_id": "old-1002",
        "contact": {"identities": [{"kind": "phone", "value": "+385 (91) 123-4567"}]},
        "status": "resolved",
        "team": "Support",
        "assignee": "ivana@example.com",
        "created_at": "2026-03-05T10:00:00Z",
        "entries": [
            {"kind": "inbound", "channel": "sms", "at": "2026-03-05T10:00:00Z", "body": "Hello?"},
            {
                "kind": "outbound",
                "channel": "sms",
                "at": "2026-03-05T10:01:00Z",
                "body": "We got your message",
                "author": "bot@example.com",
                "auto": True,
            },
            {
                "kind": "outbound",
                "channel": "whatsapp",
                "at": "2026-03-05T10:20:00Z",
                "body": "Hi! Ivana here",
                "author": "ivana@example.com",
            },
            {
                "kind": "inbound",
                "channel": "whatsapp",
                "at": "2026-03-05T10:30:00Z",
                "body": "Thanks",
            },
            {"kind": "event", "event": "resolved", "at": "2026-03-05T11:00:00Z"},
            {
                "kind": "survey",
                "survey": "nps",
                "score": 9,
                "channel": "sms",
                "at": "2026-03-05T11:30:00Z",
            },
        ],
    },
    {
        "external_id": "old-1003",
        "contact": {"name": "Bob", "identities": [{"kind": "email", "value": "bob@example.net"}]},
        "status": "resolved",
        "team": "Billing",
        "assignee": MARKO,
        "created_at": "2026-03-10T12:00:00Z",
        "entries": [
            {"kind": "inbound", "channel": "email", "at": "2026-03-10T12:00:00Z", "body": "?"},
            {
                "kind": "outbound",
                "channel": "email",
                "at": "2026-03-10T12:30:00Z",
                "body": "Done",
                "author": MARKO,
            },
            {"kind": "event", "event": "resolved", "at": "2026-03-10T13:00:00Z"},
            {
                "kind": "inbound",
                "channel": "email",
                "at": "2026-03-10T14:00:00Z",
                "body": "Not done",
            },
            {
                "kind": "outbound",
                "channel": "email",
                "at": "2026-03-10T14:10:00Z",
                "body": "Now it is",
                "author": MARKO,
            },
            {"kind": "event", "event": "resolved", "at": "2026-03-10T15:00:00Z"},
            {"kind": "survey", "survey": "nps", "score": 7, "at": "2026-03-10T16:00:00Z"},
        ],
    },
    {
        "external_id": "old-1004",
        "contact": {"identities": [{"kind": "chat", "value": "v-77"}]},
        "status": "open",
        "created_at": "2026-03-20T08:00:00Z",
        "entries": [
            {"kind": "inbound", "channel": "chat", "at": "2026-03-20T08:00:00Z", "body": "Hi"}
        ],
    },
    {
        "external_id": "old-bad",
        "contact": {"identities": [{"kind": "phone", "value": "not a number"}]},
        "status": "open",
        "entries": [],
    },
    {
        "external_id": "old-1005",
        "contact": {"identities": [{"kind": "email", "value": "april@example.com"}]},
        "status": "open",
        "created_at": "2026-04-02T08:00:00Z",
        "entries": [
            {"kind": "inbound", "channel": "email", "at": "2026-04-02T08:00:00Z", "body": "Hi"}
        ],
    },
]


class ImportTestCase(HelpdeskTestCase):
    def setUp(self) -> None:
        self.tmp = TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, lines: list[Any], name: str = "history.jsonl") -> Path:
        path = Path(self.tmp.name) / name
        path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
        return path

    def run_import(self, path: Path) -> tuple[str, str, bool]:
        out, err = StringIO(), StringIO()
        failed = False
        try:
            call_command("import_conversations", str(path), stdout=out, stderr=err)
        except CommandError:
            failed = True
        return out.getvalue(), err.getvalue(), failed


class ImportConversationsTests(ImportTestCase):
    def test_it_imports_reports_bad_lines_and_exits_non_zero(self):
        out, err, failed = self.run_import(self.write(LINES))
        self.assertIn("imported 5, updated 0, skipped 0, failed 1", out)
        self.assertIn("line 5: contact.identities[0]: not a phone number", err)
        self.assertTrue(failed)
        self.assertFalse(Conversation.objects.filter(external_id="old-bad").exists())

    def test_lifecycle_timestamps_are_derived_as_live(self):
        self.run_import(self.write(LINES))
        c = Conversation.objects.get(external_id="old-1001")
        self.assertEqual(c.status, "resolved")
        self.assertEqual(c.created_at, datetime(2026, 3, 2, 8, 15, tzinfo=UTC))
        self.assertEqual(c.first_inbound_at, datetime(2026, 3, 2, 8, 15, tzinfo=UTC))
        self.assertEqual(c.first_human_reply_at, datetime(2026, 3, 2, 8, 17, 30, tzinfo=UTC))
        self.assertEqual(c.resolved_at, datetime(2026, 3, 2, 8, 41, tzinfo=UTC))
        self.assertEqual((c.human_reply_count, c.reopened_count), (2, 0))
        self.assertEqual((c.first_channel, c.last_inbound_channel), ("chat", "chat"))
        self.assertEqual(c.team, self.support)
        self.assertEqual(list(c.labels.values_list("name", flat=True)), ["billing"])
        kinds = list(c.entries.values_list("kind", "event", "channel", "is_auto"))
        self.assertEqual(
            kinds,
            [
                ("inbound", "", "chat", False),
                ("outbound", "", "chat", False),
                ("note", "", "", False),
                ("outbound", "", "email", False),
                ("event", "status_changed", "", False),
                ("event", "survey_answered", "email", False),
            ],
        )
        self.assertTrue(all(e.contact_id == c.contact_id for e in c.entries.all()))
        survey = SurveyResponse.objects.get(conversation=c)
        self.assertEqual((survey.survey, survey.score, survey.comment), ("csat", 5, "Fast!"))
        assert survey.entry is not None
        self.assertEqual(
            survey.entry.parameters, {"survey": "csat", "score": 5, "comment": "Fast!"}
        )

        auto = Conversation.objects.get(external_id="old-1002")
        # The auto-acknowledgement is not the first reply.
        self.assertEqual(auto.first_human_reply_at, datetime(2026, 3, 5, 10, 20, tzinfo=UTC))
        self.assertEqual(auto.human_reply_count, 1)
        self.assertTrue(auto.entries.get(body="We got your message").is_auto)
        self.assertTrue(auto.entries.filter(event="channel_switched").exists())

        reopened = Conversation.objects.get(external_id="old-1003")
        self.assertEqual(reopened.reopened_count, 1)
        self.assertEqual(reopened.resolved_at, datetime(2026, 3, 10, 15, tzinfo=UTC))
        self.assertEqual(reopened.team.name, "Billing")  # type: ignore[union-attr]

    def test_contacts_identities_agents_and_teams_are_reused_or_created(self):
        self.run_import(self.write(LINES))
        ana = Contact.objects.get(name="Ana Kovač")
        self.assertEqual(ana.attributes, {"company": "Primjer d.o.o."})
        self.assertEqual(
            sorted(ana.identities.values_list("kind", "value")),
            [("email", "ana@example.com"), ("phone", "+385911234567")],
        )
        # +385 (91) ... is the same phone: the same contact.
        self.assertEqual(Conversation.objects.get(external_id="old-1002").contact, ana)
        self.assertEqual(Identity.objects.filter(value="+385911234567").count(), 1)
        marko = Agent.objects.get(email=MARKO)
        self.assertFalse(marko.is_active)
        self.assertFalse(marko.has_usable_password())
        self.assertEqual(Team.objects.filter(name__iexact="support").count(), 1)

    def test_a_contact_known_before_the_import_is_reused(self):
        existing = Contact.objects.create(name="Known")
        Identity.objects.create(contact=existing, kind="email", value="bob@example.net")
        self.run_import(self.write(LINES))
        self.assertEqual(Conversation.objects.get(external_id="old-1003").contact, existing)

    def test_an_identity_of_a_merged_contact_leads_to_the_survivor(self):
        survivor = Contact.objects.create(name="Survivor")
        merged = Contact.objects.create(name="Merged", merged_into=survivor)
        Identity.objects.create(contact=merged, kind="email", value="bob@example.net")
        # The same value under another kind is another identity: not a match.
        visitor = Contact.objects.create(name="Visitor")
        Identity.objects.create(contact=visitor, kind="chat", value="ana@example.com")
        self.run_import(self.write(LINES))
        self.assertEqual(Conversation.objects.get(external_id="old-1003").contact, survivor)
        ana = Conversation.objects.get(external_id="old-1001").contact
        self.assertNotEqual(ana, visitor)
        self.assertEqual(ana.name, "Ana Kovač")

    def test_importing_twice_changes_nothing_and_a_changed_line_updates(self):
        path = self.write(LINES)
        self.run_import(path)
        counts = (Conversation.objects.count(), Entry.objects.count(), Contact.objects.count())
        out, _err, _failed = self.run_import(path)
        self.assertIn("imported 0, updated 0, skipped 5, failed 1", out)
        self.assertEqual(
            (Conversation.objects.count(), Entry.objects.count(), Contact.objects.count()), counts
        )
        changed = json.loads(json.dumps(LINES))
        changed[2]["entries"] = changed[2]["entries"][:3]  # no reopen any more
        out, _err, _failed = self.run_import(self.write(changed, "changed.jsonl"))
        self.assertIn("imported 0, updated 1, skipped 4, failed 1", out)
        c = Conversation.objects.get(external_id="old-1003")
        self.assertEqual((c.reopened_count, c.human_reply_count), (0, 1))
        self.assertEqual(c.resolved_at, datetime(2026, 3, 10, 13, tzinfo=UTC))
        self.assertEqual(c.entries.filter(kind="inbound").count(), 1)
        self.assertFalse(SurveyResponse.objects.filter(conversation=c).exists())

    def test_bad_lines_say_why_and_write_nothing(self):
        good = LINES[3]
        cases = [
            ("{not json", "not valid JSON"),
            (json.dumps({"contact": {}}), "external_id is required"),
            (json.dumps({**good, "external_id": "x1", "status": "closed"}), "unknown status"),
            (
                json.dumps(
                    {
                        **good,
                        "external_id": "x2",
                        "entries": [{"kind": "inbound", "at": "2026-03-01T10:00:00Z"}],
                    }
                ),
                "needs a channel",
            ),
            (
                json.dumps(
                    {
                        **good,
                        "external_id": "x3",
                        "entries": [
                            {"kind": "inbound", "channel": "chat", "at": "2026-03-01T10:00:00"}
                        ],
                    }
                ),
                "has no UTC offset",
            ),
            (
                json.dumps(
                    {
                        **good,
                        "external_id": "x4",
                        "entries": [
                            {"kind": "outbound", "channel": "chat", "at": "2026-03-01T10:00:00Z"}
                        ],
                    }
                ),
                "needs an author",
            ),
            (
                json.dumps(
                    {
                        **good,
                        "external_id": "x5",
                        "entries": [
                            {
                                "kind": "survey",
                                "survey": "csat",
                                "score": 6,
                                "at": "2026-03-01T10:00:00Z",
                            }
                        ],
                    }
                ),
                "from 1 to 5",
            ),
            (
                json.dumps(
                    {
                        **good,
                        "external_id": "x6",
                        "entries": [
                            {"kind": "event", "event": "closed", "at": "2026-03-01T10:00:00Z"}
                        ],
                    }
                ),
                "unknown event",
            ),
        ]
        out, err, failed = self.run_import(self.write([text for text, _ in cases]))
        self.assertTrue(failed)
        self.assertIn(f"failed {len(cases)}", out)
        for number, (_text, reason) in enumerate(cases, start=1):
            self.assertIn(f"line {number}: ", err)
            self.assertIn(reason, err)
        self.assertFalse(Conversation.objects.exists())


class ImportThenKpiTests(ImportTestCase):
    def test_kpi_rebuild_then_kpi_summary_gives_what_kpi_md_defines(self):
        self.run_import(self.write(LINES))
        call_command("kpi_rebuild", stdout=StringIO())
        out = StringIO()
        call_command("kpi_summary", "--start", "2026-03-01", "--end", "2026-04-01", stdout=out)
        data = json.loads(out.getvalue())
        self.assertEqual(
            data["volume"],
            {
                "conversations": 4,
                "inbound_messages": 6,
                "by_channel": {"chat": 2, "email": 1, "sms": 1},
            },
        )
        # FRT 150 s (old-1001), 1200 s (old-1002, after the auto-ack), 1800 s (old-1003).
        self.assertEqual(data["frt"], {"median_seconds": 1200.0, "p90_seconds": 1680.0, "count": 3})
        # Resolution 1560 s, 3600 s, 10800 s (old-1003 counted once, to its last resolution).
        self.assertEqual(
            data["resolution"], {"median_seconds": 3600.0, "p90_seconds": 9360.0, "count": 3}
        )
        # old-1001 had two replies (and old-1002 followed in 3 days); old-1003 reopened.
        self.assertEqual(data["fcr"]["first_contact"], 1)
        self.assertEqual(data["fcr"]["resolved"], 3)
        self.assertAlmostEqual(data["fcr"]["percent"], 100 / 3)
        self.assertEqual((data["csat"]["percent"], data["csat"]["responses"]), (100.0, 1))
        self.assertEqual(
            data["nps"],
            {"score": 50.0, "promoters": 1, "passives": 1, "detractors": 0, "responses": 2},
        )
        self.assertEqual((data["backlog"]["open"], data["backlog"]["pending"]), (2, 0))
        self.assertEqual(
            data["channel_switch"],
            {
                "percent": 25.0,
                "switched": 1,
                "conversations": 4,
                "matrix": {"sms": {"whatsapp": 1}},
            },
        )
        april = StringIO()
        call_command("kpi_summary", "--start", "2026-04-01", "--end", "2026-05-01", stdout=april)
        self.assertEqual(json.loads(april.getvalue())["volume"]["conversations"], 1)
