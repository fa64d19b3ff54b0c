"""`manage.py replay_inbound [--id N | --failed]`: process stored raw events again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_in import actions
from channels_in.models import InboundEvent


class Command(BaseCommand):
    help = "Replay one stored inbound event (--id) or every failed one (--failed)."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--id", type=int, dest="event_id")
        group.add_argument("--failed", action="store_true")

    def handle(self, *args: Any, event_id: int | None, failed: bool, **options: Any) -> None:
        if event_id is not None:
            events = list(InboundEvent.objects.filter(pk=event_id))
            if not events:
                raise CommandError(f"no inbound event with id {event_id}")
        else:
            events = list(
                InboundEvent.objects.filter(status=InboundEvent.Status.FAILED).order_by("id")
            )
        still_failed = 0
        for event in events:
            outcome = actions.replay(event)
            event.refresh_from_db()
            line = f"event {event.pk} ({event.inbox.slug}): {event.status}"
            if event.status == InboundEvent.Status.FAILED:
                still_failed += 1
                line += f" - {event.error}"
            self.stdout.write(line if outcome is not None or event_id else line)
        self.stdout.write(f"replayed {len(events)}, failed {still_failed}")
        if still_failed:
            raise CommandError(f"{still_failed} event(s) still failed")
