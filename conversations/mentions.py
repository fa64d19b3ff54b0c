"""@mentions in private notes: `@alice` or `@alice@example.org` finds the agent."""

from __future__ import annotations

import re

from django.db.models import Q

from helpdesk.models import Agent

MENTION_RE = re.compile(r"(?<![\w.])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")


def mentioned_agents(body: str) -> list[Agent]:
    """Active agents mentioned by e-mail, e-mail name or first name (one query)."""
    tokens = {t.rstrip(".").lower() for t in MENTION_RE.findall(body)}
    if not tokens:
        return []
    query = Q()
    for token in tokens:
        if "@" in token:
            query |= Q(email__iexact=token)
        else:
            query |= Q(email__istartswith=f"{token}@") | Q(name__iexact=token)
    found = Agent.objects.filter(query, is_active=True)
    return [
        agent
        for agent in found
        if agent.email.lower() in tokens
        or agent.email.lower().split("@")[0] in tokens
        or agent.name.lower() in tokens
    ]
