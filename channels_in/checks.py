"""System checks: a missing token is a `manage.py check` warning, not a production 500."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning, register
from django.db import DatabaseError


@register("channels")
def inbox_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from channels_in.models import Inbox
    from channels_in.registry import adapter_for

    messages: list[CheckMessage] = []
    try:
        inboxes = list(Inbox.objects.filter(is_active=True))
    except DatabaseError:
        return []  # before migrate
    for inbox in inboxes:
        try:
            problems = adapter_for(inbox).check_settings()
        except LookupError as exc:
            problems = [str(exc)]
        messages.extend(
            Warning(
                problem, hint="python manage.py inbox show " + inbox.slug, id="channels_in.W001"
            )
            for problem in problems
        )
    return messages
