from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command
from django.core.management.base import CommandError

from channels_in.models import InboundEvent, Inbox
from conversations.models import Contact, Entry, Identity
from tests.base import HelpdeskTestCase
from tests.channels_in.test_api_webhook import PAYLOAD


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class InboxCommandTests(HelpdeskTestCase):
    def test_add_creates_an_inbox_prints_its_url_and_never_the_secret(self):
        with self.settings(PUBLIC_URL="https://help.example.com"):
            out = run(
                "inbox",
                "add",
                "api",
                "--slug",
                "crm",
                "--team",
                "Support",
                "--set",
                "secret=topsecret",
                "--set",
                "callback_url=https://crm.example.com/in",
            )
        self.assertIn("https://help.example.com/hooks/api/crm/", out)
        self.assertNotIn("topsecret", out)
        inbox = Inbox.objects.get(slug="crm")
        self.assertEqual(inbox.get_secret("secret"), "topsecret")
        self.assertNotIn("topsecret", json.dumps(inbox.secrets))
        self.assertEqual(inbox.team, self.support)
        shown = run("inbox", "show", "crm")
        self.assertIn("secret: (secret, set)", shown)
        self.assertNotIn("topsecret", shown)
        self.assertIn("crm", run("inbox", "list"))

    def test_bad_input_is_refused_clearly_and_writes_nothing(self):
        cases = [
            (("inbox", "add", "fax", "--slug", "x"), "unknown kind"),
            (("inbox", "add", "api", "--slug", "x"), "need: secret"),
            (("inbox", "add", "api", "--slug", "x", "--set", "secret"), "KEY=VALUE"),
            (
                ("inbox", "add", "api", "--slug", "x", "--set", "secret=a", "--set", "colour=red"),
                "unknown key",
            ),
            (
                ("inbox", "add", "api", "--slug", "x", "--set", "secret=a", "--team", "Nope"),
                "no team named",
            ),
            (("inbox", "add", "api", "--slug", "shop", "--set", "secret=a"), "exists already"),
            (("inbox", "show", "nope"), "no active inbox"),
            (("inbox", "remove", "nope"), "no active inbox"),
        ]
        for args, message in cases:
            with self.subTest(args=args), self.assertRaisesMessage(CommandError, message):
                run(*args)
        self.assertEqual(Inbox.objects.count(), 1)

    def test_env_overrides_a_stored_secret(self):
        import os
        from unittest import mock

        with mock.patch.dict(os.environ, {"HELPDESK_INBOX_SHOP_SECRET": "from-env"}):
            self.assertEqual(Inbox.objects.get(slug="shop").get_secret("secret"), "from-env")

    def test_a_secret_is_decrypted_once_per_inbox_object_and_again_when_changed(self):
        from unittest import mock

        from channels_in import crypto

        inbox = Inbox.objects.get(slug="shop")
        inbox.set_secret("secret", "first")
        with mock.patch.object(crypto, "decrypt", wraps=crypto.decrypt) as decrypt:
            self.assertEqual(inbox.get_secret("secret"), "first")
            self.assertEqual(inbox.get_secret("secret"), "first")
            self.assertEqual(decrypt.call_count, 1)
            inbox.set_secret("secret", "second")
            self.assertEqual(inbox.get_secret("secret"), "second")
            self.assertEqual(decrypt.call_count, 2)

    def test_remove_stops_webhooks_but_keeps_history(self):
        self.post_api(PAYLOAD)
        run("inbox", "remove", "shop")
        self.assertEqual(self.post_api({**PAYLOAD, "id": "2"}).status_code, 404)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)


class ExportEraseTests(HelpdeskTestCase):
    def test_a_signed_post_appears_once_in_the_export_however_often_replayed(self):
        for _ in range(3):
            self.post_api(PAYLOAD)
        event = InboundEvent.objects.get()
        run("replay_inbound", "--id", str(event.pk))
        export = json.loads(run("export_contact", "ana@example.com"))
        bodies = [
            e["body"]
            for c in export["conversations"]
            for e in c["entries"]
            if e["kind"] == "inbound"
        ]
        self.assertEqual(bodies, ["Where is my order?"])
        self.assertEqual(export, json.loads(run("export_contact", "+385 91 123 4567")))

    def test_unknown_and_malformed_identities_are_clear_errors(self):
        with self.assertRaisesMessage(CommandError, "no contact has the identity"):
            run("export_contact", "nobody@example.com")
        with self.assertRaisesMessage(CommandError, "neither an e-mail"):
            run("export_contact", "hello")
        with self.assertRaisesMessage(CommandError, "no contact"):
            run("erase_contact", "telegram:1")

    def test_erase_removes_the_customer_and_the_raw_payloads(self):
        self.post_api(PAYLOAD)
        out = run("erase_contact", "ana@example.com")
        self.assertIn("erased contact", out)
        self.assertFalse(Identity.objects.exists())
        self.assertEqual(Contact.objects.get().name, "")
        self.assertEqual(bytes(InboundEvent.objects.get().body), b"")
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)


class ReplayTests(HelpdeskTestCase):
    def test_a_failed_event_stays_raw_and_replays_once_fixed(self):
        from unittest import mock

        with mock.patch(
            "conversations.actions.record_inbound", side_effect=RuntimeError("db hiccup")
        ):
            self.post_api(PAYLOAD)
        event = InboundEvent.objects.get()
        self.assertEqual(event.status, "failed")
        self.assertIn("db hiccup", event.error)
        self.assertFalse(Entry.objects.exists())
        out = run("replay_inbound", "--failed")
        self.assertIn("replayed 1, failed 0", out)
        event.refresh_from_db()
        self.assertEqual(event.status, "processed")
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)

    def test_replay_reports_what_still_fails(self):
        from unittest import mock

        with mock.patch("conversations.actions.record_inbound", side_effect=RuntimeError("boom")):
            self.post_api(PAYLOAD)
            with self.assertRaisesMessage(CommandError, "still failed"):
                run("replay_inbound", "--failed")

    def test_replay_needs_a_known_id(self):
        with self.assertRaisesMessage(CommandError, "no inbound event"):
            run("replay_inbound", "--id", "999")
