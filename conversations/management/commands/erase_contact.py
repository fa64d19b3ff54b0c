"""`manage.py erase_contact IDENTITY`: the right to erasure."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations import actions
from conversations.identities import InvalidIdentity, find_contact


class Command(BaseCommand):
    help = (
        "Erase a customer: content and identities removed, KPI counts kept anonymously. "
        "IDENTITY is an e-mail, a phone number, or kind:value (e.g. telegram:12345)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identity")

    def handle(self, *args: Any, identity: str, **options: Any) -> None:
        try:
            contact = find_contact(identity)
        except (InvalidIdentity, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        counts = actions.erase_contact(contact)
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.stdout.write(f"erased contact {contact.pk}: {summary}")
