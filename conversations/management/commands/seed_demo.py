"""seed_demo: the demo workspace of `make run`, or bulk data for benchmarks.

manage.py seed_demo
    the demo workspace, once (conversations/demo.py, built through actions)
manage.py seed_demo --conversations N --messages M [--seed S]
    N conversations holding M timeline entries in total (conversations/bulk.py,
    COPY on PostgreSQL, bulk_create on SQLite), with a progress bar on stderr
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from conversations import bulk, demo


class Command(BaseCommand):
    help = _("Load the demo workspace once, or N conversations with M entries for benchmarks.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, help=_("conversations to generate"))
        parser.add_argument(
            "--messages", type=int, help=_("timeline entries to generate, in total")
        )
        parser.add_argument("--seed", type=int, default=1, help=_("random seed (default 1)"))
        parser.add_argument(
            "--days", type=int, default=90, help=_("bulk data spans this many past days")
        )
        parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    def handle(self, *args: Any, **options: Any) -> None:
        conversations = options["conversations"]
        messages = options["messages"]
        if conversations is None and messages is None:
            self._demo(options["seed"])
            return
        if conversations is None or messages is None:
            raise CommandError(_("Give both --conversations and --messages, or neither."))
        if conversations < 1:
            raise CommandError(_("--conversations must be at least 1."))
        if messages < conversations:
            raise CommandError(
                _("--messages must be at least --conversations (every conversation has one).")
            )
        if options["days"] < 1:
            raise CommandError(_("--days must be at least 1."))
        out = None if options["no_progress"] else sys.stderr
        report = bulk.generate(
            conversations, messages, seed=options["seed"], days=options["days"], out=out
        )
        self.stdout.write(bulk.describe(report))

    def _demo(self, seed: int) -> None:
        report = demo.build_demo(seed=seed, warn=lambda text: self.stderr.write(text))
        if not report.created:
            self.stdout.write(
                _("The demo workspace exists already (%(email)s); nothing changed.")
                % {"email": demo.ADMIN_EMAIL}
            )
            return
        self.stdout.write(
            _(
                "Demo workspace created: %(contacts)d contacts, %(conversations)d "
                "conversations, %(entries)d timeline entries; inboxes: %(inboxes)s."
            )
            % {
                "contacts": report.contacts,
                "conversations": report.conversations,
                "entries": report.entries,
                "inboxes": ", ".join(report.inboxes),
            }
        )
        self.stdout.write(_("Log in at %(url)s") % {"url": demo.LOGIN_URL})
        self.stdout.write(
            _("  admin: %(email)s  password: %(password)s")
            % {"email": demo.ADMIN_EMAIL, "password": report.password}
        )
        agents = ", ".join(a for a in report.agents if a != demo.ADMIN_EMAIL)
        self.stdout.write(_("  agents (same password): %(agents)s") % {"agents": agents})
