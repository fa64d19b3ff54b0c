"""Personal API tokens: create (shown once), revoke, and look up by hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.models import Agent, ApiToken

TOKEN_PREFIX = "hd_"  # noqa: S105 - a marker, not a secret
# last_used_at is written at most this often per token: a busy integration must not
# turn every GET into an UPDATE.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(
    agent: Agent, *, scope: str = ApiToken.Scope.READ, name: str = ""
) -> tuple[ApiToken, str]:
    """Return the stored token and the raw secret; the raw one is never stored."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"unknown scope {scope!r}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        agent=agent, name=name[:100], scope=scope, prefix=raw[:10], token_hash=hash_token(raw)
    )
    return token, raw


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def find_token(raw: str) -> ApiToken | None:
    return (
        ApiToken.objects.active().select_related("agent").filter(token_hash=hash_token(raw)).first()
    )


def touch(token: ApiToken) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION (a conditional UPDATE)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    token.last_used_at = now
