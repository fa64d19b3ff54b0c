"""ingest_email --inbox SLUG PATH...: .eml files, mbox files and Maildir folders.

The same path as IMAP and the webhooks: each mail is stored raw, then parsed and
recorded; a mail that fails stays stored as a failed event, replayable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_in import actions
from channels_in.email.ingest import IngestError, RawMail, email_inbox, read_path, store_raw
from channels_in.models import InboundEvent
from conversations import signals

BATCH = 200


class Command(BaseCommand):
    help = "Ingest e-mail from .eml files, mbox files and Maildir folders into an email inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--inbox", required=True, help="slug of an email inbox")
        parser.add_argument("paths", nargs="+", help=".eml files, mbox files, Maildir folders")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            inbox = email_inbox(options["inbox"])
        except IngestError as exc:
            raise CommandError(str(exc)) from exc
        paths = [Path(p) for p in options["paths"]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        counts = self.ingest(inbox, paths)
        self.stdout.write(
            f"ingested {counts['ingested']}, duplicates {counts['duplicates']}, "
            f"failed {counts['failed']}"
        )
        if counts["failed"]:
            self.stderr.write("failed mail is kept raw; see `replay_inbound --failed`")

    def ingest(self, inbox: Any, paths: list[Path]) -> dict[str, int]:
        counts = {"ingested": 0, "duplicates": 0, "failed": 0}
        batch: list[RawMail] = []
        try:
            for path in paths:
                for mail in read_path(path):
                    batch.append(mail)
                    if len(batch) >= BATCH:
                        self.ingest_batch(inbox, batch, counts)
                        batch = []
            self.ingest_batch(inbox, batch, counts)
        except IngestError as exc:
            raise CommandError(str(exc)) from exc
        return counts

    def ingest_batch(self, inbox: Any, batch: list[RawMail], counts: dict[str, int]) -> None:
        # One transaction per batch: a bulk import pays one commit per BATCH mails, not
        # two per mail. Each mail still has its own savepoints, so one bad mail is kept
        # as a failed event while the others are recorded; if the batch itself fails,
        # nothing of it is written and a re-run picks it up (Message-IDs dedupe).
        # signals.batch outside the transaction: its after-commit work (publishes, KPI
        # marks) runs once for the batch, after the commit.
        with signals.batch(), transaction.atomic():
            stored = []
            for mail in batch:
                event, created = store_raw(inbox, mail.raw, source="file")
                if created:
                    stored.append((event.pk, mail))
                else:
                    counts["duplicates"] += 1
            # Recorded here, now, as one batch; the drain requested on commit finds
            # them done.
            statuses = actions.process_stored([pk for pk, _ in stored])
            for pk, mail in stored:
                if statuses.get(pk) == InboundEvent.Status.FAILED:
                    counts["failed"] += 1
                    self.stderr.write(f"failed: {mail.origin} (event {pk})")
                else:
                    counts["ingested"] += 1
