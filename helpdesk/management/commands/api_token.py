"""Personal API tokens from the shell.

manage.py api_token create --agent alice@example.org [--scope read|write] [--name N]
manage.py api_token list [--agent EMAIL]
manage.py api_token revoke ID
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from helpdesk import tokens
from helpdesk.models import Agent, ApiToken


class Command(BaseCommand):
    help = "Create, list and revoke personal API tokens (Authorization: Bearer <token>)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("--agent", required=True, help="The agent's e-mail address.")
        create.add_argument("--scope", choices=ApiToken.Scope.values, default="read")
        create.add_argument("--name", default="", help="What the token is for.")
        listing = sub.add_parser("list", help="List tokens (never the secrets).")
        listing.add_argument("--agent", default="", help="Only this agent's tokens.")
        revoke = sub.add_parser("revoke", help="Revoke a token by id.")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options["agent"], options["scope"], options["name"])
        elif action == "list":
            self._list(options["agent"])
        else:
            self._revoke(options["id"])

    def _create(self, email: str, scope: str, name: str) -> None:
        agent = Agent.objects.filter(email__iexact=email.strip()).first()
        if agent is None:
            raise CommandError(f"No agent with e-mail {email!r}.")
        if not agent.is_active:
            raise CommandError(f"{email} is not active.")
        token, raw = tokens.create_token(agent, scope=scope, name=name)
        self.stderr.write(f"Token {token.pk} ({scope}) for {agent.email}; it is shown only once:")
        self.stdout.write(raw)

    def _list(self, email: str) -> None:
        rows = ApiToken.objects.select_related("agent").order_by("id")
        if email:
            rows = rows.filter(agent__email__iexact=email.strip())
        for token in rows:
            state = "revoked" if token.revoked_at else "active"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.agent.email}\t{token.scope}\t{state}"
                f"\tlast used {used}\t{token.name}"
            )

    def _revoke(self, token_id: int) -> None:
        token = ApiToken.objects.filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"No token with id {token_id}.")
        tokens.revoke_token(token)
        self.stdout.write(f"Token {token_id} revoked.")
