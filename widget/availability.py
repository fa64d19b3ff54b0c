"""Is anyone there? Business hours and online agents decide what the widget promises."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from django.utils import timezone

from channels_in.adapters.chat import ChatAdapter
from channels_in.models import Inbox
from conversations import presence
from helpdesk.models import Agent


class Availability(TypedDict):
    online: bool
    in_hours: bool
    agents_online: int


def agents_for(inbox: Inbox) -> list[int]:
    """Who answers this inbox: its team's members, or every agent for a team-less inbox."""
    agents = Agent.objects.filter(is_active=True)
    if inbox.team_id:
        agents = agents.filter(teams=inbox.team_id)
    return list(agents.values_list("id", flat=True)[:1000])


def for_inbox(inbox: Inbox, now: datetime | None = None) -> Availability:
    """online: "we reply in minutes"; otherwise the widget asks for an e-mail address."""
    in_hours = ChatAdapter(inbox).in_business_hours(now or timezone.now())
    online = presence.online_agents(agents_for(inbox)) if in_hours else []
    return {"online": in_hours and bool(online), "in_hours": in_hours, "agents_online": len(online)}
