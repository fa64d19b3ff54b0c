"""manage.py ingest_email: .eml files, mbox files and Maildir folders; bad input."""

from __future__ import annotations

import mailbox
import tempfile
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

from channels_in.models import InboundEvent
from conversations.models import Entry
from tests.channels_in.test_email_support import FIXTURES, EmailTestCase, build_mail, fixture


class IngestEmailCommandTests(EmailTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="ingest-email-"))

    def run_command(self, *args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command("ingest_email", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_it_ingests_eml_files_and_counts_duplicates_and_failures(self):
        paths = [str(FIXTURES / n) for n in ("outlook_new.eml", "apple_mail_attachment.eml")]
        out, _ = self.run_command("--inbox", "support", *paths)
        self.assertEqual(out.strip(), "ingested 2, duplicates 0, failed 0")
        out, err = self.run_command("--inbox", "support", *paths, str(FIXTURES / "no_sender.eml"))
        self.assertEqual(out.strip(), "ingested 0, duplicates 2, failed 1")
        self.assertIn("no_sender.eml", err)
        failed = InboundEvent.objects.get(status="failed")
        self.assertIn("no usable sender", failed.error)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 2)

    def test_it_ingests_an_mbox_file(self):
        box = mailbox.mbox(str(self.tmp / "archive.mbox"))
        for n in range(3):
            box.add(build_mail(f"c{n}@example.com", f"mail {n}", message_id=f"<mbox-{n}@x>"))
        box.add(fixture("mailing_list.eml"))
        box.flush()
        box.close()
        out, _ = self.run_command("--inbox", "support", str(self.tmp / "archive.mbox"))
        self.assertEqual(out.strip(), "ingested 4, duplicates 0, failed 0")
        self.assertEqual(
            sorted(Entry.objects.filter(kind="inbound").values_list("body", flat=True))[1:],
            ["mail 0", "mail 1", "mail 2"],
        )
        self.assertTrue(Entry.objects.get(provider_id__contains="lists.example.org").is_auto)

    def test_it_ingests_a_maildir_folder(self):
        box = mailbox.Maildir(str(self.tmp / "Maildir"), create=True)
        box.add(fixture("outlook_new.eml"))
        box.add(fixture("gmail_reply_hr.eml", OUTBOUND_ID="x@y"))
        out, _ = self.run_command("--inbox", "support", str(self.tmp / "Maildir"))
        self.assertEqual(out.strip(), "ingested 2, duplicates 0, failed 0")
        # The CC'd colleague replying with References joins Ana's conversation.
        self.assertEqual(
            Entry.objects.filter(kind="inbound").values("conversation").distinct().count(), 1
        )

    def test_an_unknown_inbox_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "no active inbox with slug 'nope'"):
            self.run_command("--inbox", "nope", str(FIXTURES / "outlook_new.eml"))

    def test_an_inbox_of_another_kind_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "is a api inbox, not an email inbox"):
            self.run_command("--inbox", "shop", str(FIXTURES / "outlook_new.eml"))

    def test_a_missing_path_is_an_error_and_nothing_is_stored(self):
        with self.assertRaisesMessage(CommandError, "no such file or folder"):
            self.run_command(
                "--inbox", "support", str(FIXTURES / "outlook_new.eml"), "/nonexistent/x.eml"
            )
        self.assertFalse(InboundEvent.objects.exists())

    def test_a_folder_that_is_not_a_maildir_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "not a Maildir"):
            self.run_command("--inbox", "support", str(self.tmp))

    def test_the_inbox_argument_is_required(self):
        with self.assertRaises(CommandError):
            call_command("ingest_email", str(FIXTURES / "outlook_new.eml"))


class IngestEmailBatchTests(EmailTestCase):
    """One mbox, one batch: threads are followed inside the batch as across batches."""

    def test_threads_in_one_batch_hold_with_a_colleague_in_cc(self):
        tmp = Path(tempfile.mkdtemp(prefix="ingest-email-"))
        box = mailbox.mbox(str(tmp / "threads.mbox"))
        for thread in range(3):
            ids: list[str] = []
            for position in range(4):
                sender = f"customer{thread}@example.com"
                cc = ""
                if position == 3:  # a colleague of the customer answers the thread
                    sender, cc = f"colleague{thread}@example.com", f"customer{thread}@example.com"
                message_id = f"<t{thread}.{position}@example.com>"
                box.add(
                    build_mail(
                        sender,
                        f"thread {thread} mail {position}",
                        message_id=message_id,
                        cc=cc,
                        in_reply_to=ids[-1] if ids else "",
                        references=list(ids),
                    )
                )
                ids.append(message_id)
        box.flush()
        box.close()
        out = StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command(
                "ingest_email", "--inbox", "support", str(tmp / "threads.mbox"), stdout=out
            )
        self.assertEqual(out.getvalue().strip(), "ingested 12, duplicates 0, failed 0")
        for thread in range(3):
            conversations = set(
                Entry.objects.filter(body__startswith=f"thread {thread} ").values_list(
                    "conversation_id", flat=True
                )
            )
            self.assertEqual(len(conversations), 1, f"thread {thread} is one conversation")
        colleague = Entry.objects.get(body="thread 1 mail 3")
        self.assertEqual(colleague.contact.identities.get().value, "colleague1@example.com")
        self.assertEqual(InboundEvent.objects.filter(status="processed").count(), 12)
