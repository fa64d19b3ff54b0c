"""`manage.py export_contact IDENTITY`: everything we hold on one customer, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.export import export_contact
from conversations.identities import InvalidIdentity, find_contact


class Command(BaseCommand):
    help = (
        "Print the contact, its identities and every conversation with every timeline entry "
        "as JSON (the right of access). IDENTITY is an e-mail, a phone number or kind:value."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identity")

    def handle(self, *args: Any, identity: str, **options: Any) -> None:
        try:
            contact = find_contact(identity)
        except (InvalidIdentity, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(export_contact(contact), indent=2, ensure_ascii=False))
