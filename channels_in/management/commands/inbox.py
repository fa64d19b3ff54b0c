"""`manage.py inbox add|list|show|remove`: configure channels (OPERATOR_INTERFACE.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from channels_in import actions
from channels_in.base import ChannelError
from channels_in.models import Inbox
from channels_in.registry import adapter_class, adapter_for, known_kinds
from helpdesk.models import Team


def _public_base() -> str:
    return settings.PUBLIC_URL or "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Add, list, show or remove inboxes (configured channels)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="create an inbox and print its webhook URLs")
        add.add_argument("kind", help="one of: " + ", ".join(known_kinds()))
        add.add_argument("--slug", required=True)
        add.add_argument("--name", default="")
        add.add_argument("--team", default="", help="name of an existing team")
        add.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            dest="values",
            help="a setting; repeat for several (secrets are encrypted, never printed again)",
        )
        sub.add_parser("list", help="list inboxes")
        show = sub.add_parser("show", help="show one inbox (never its secrets)")
        show.add_argument("slug")
        remove = sub.add_parser("remove", help="deactivate an inbox (history stays)")
        remove.add_argument("slug")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        getattr(self, f"_{verb}")(**options)

    def _get(self, slug: str) -> Inbox:
        try:
            return Inbox.objects.select_related("team").get(slug=slug, is_active=True)
        except Inbox.DoesNotExist:
            raise CommandError(f"no active inbox with slug {slug!r} (see `inbox list`)") from None

    def _add(self, kind: str, slug: str, name: str, team: str, values: list[str], **_: Any) -> None:
        if kind not in known_kinds():
            raise CommandError(f"unknown kind {kind!r}; choose one of: {', '.join(known_kinds())}")
        parsed: dict[str, str] = {}
        for item in values:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--set takes KEY=VALUE, got {item!r}")
            parsed[key.strip()] = value
        team_id = None
        if team:
            found = Team.objects.filter(name=team).first()
            if found is None:
                known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"no team named {team!r} (teams: {known})")
            team_id = found.pk
        cls = adapter_class(kind)
        missing = [k for k in cls.required_keys if k not in parsed]
        if missing:
            raise CommandError(
                f"{kind} inboxes need: {', '.join(missing)} (use --set {missing[0]}=...)"
            )
        try:
            with transaction.atomic():
                inbox = actions.create_inbox(kind, slug, name=name, team_id=team_id, values=parsed)
                notes = adapter_for(inbox).install()
        except (ValueError, ChannelError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        self.stdout.write(self.style.SUCCESS(f"created {kind} inbox {inbox.slug!r}"))
        self._print_urls(inbox)
        for line in notes:
            self.stdout.write(line)

    def _print_urls(self, inbox: Inbox) -> None:
        paths = adapter_for(inbox).webhook_paths()
        if paths:
            self.stdout.write("webhook URLs:")
            for path in paths:
                self.stdout.write(f"  {_public_base()}{path}")

    def _list(self, **_: Any) -> None:
        inboxes = Inbox.objects.filter(is_active=True).select_related("team").order_by("slug")
        if not inboxes:
            self.stdout.write("no inboxes yet: manage.py inbox add KIND --slug SLUG ...")
            return
        for inbox in inboxes:
            team = inbox.team.name if inbox.team else "-"
            self.stdout.write(f"{inbox.slug:24} {inbox.kind:16} {team:16} {inbox.name}")

    def _show(self, slug: str, **_: Any) -> None:
        inbox = self._get(slug)
        self.stdout.write(f"slug:    {inbox.slug}\nkind:    {inbox.kind}\nname:    {inbox.name}")
        self.stdout.write(f"team:    {inbox.team.name if inbox.team else '-'}")
        for key, value in sorted(inbox.config.items()):
            self.stdout.write(f"{key}: {value}")
        for key in sorted(inbox.secrets):
            self.stdout.write(f"{key}: (secret, set)")
        self._print_urls(inbox)
        for problem in adapter_for(inbox).check_settings():
            self.stdout.write(self.style.WARNING(f"warning: {problem}"))

    def _remove(self, slug: str, **_: Any) -> None:
        inbox = self._get(slug)
        actions.remove_inbox(inbox)
        self.stdout.write(f"removed inbox {slug!r} (its history stays; webhooks now answer 404)")
