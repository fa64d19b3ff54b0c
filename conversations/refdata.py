"""Small reference tables read by every inbox page, kept per process for a few seconds.

The agent list of the assign menu, the teams, inboxes and labels of the navigation and
the canned responses of the composer were five of a conversation page's thirteen
queries and a fifth of its CPU, and they change a few times a day. Each process keeps
them for TTL_SECONDS: a change saved in this process clears them at once, one saved in
another process shows there within the TTL. The lists are shared between threads,
so callers must not change them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models.signals import m2m_changed, post_delete, post_save

from conversations.models import CannedResponse, Label
from helpdesk.models import Agent, Team

T = TypeVar("T")

TTL_SECONDS = 5.0
_MAX_KEYS = 1000
_store: dict[str, tuple[float, Any]] = {}


def cached(key: str, load: Callable[[], T]) -> T:
    """load() once per TTL_SECONDS in this process."""
    now = time.monotonic()
    hit = _store.get(key)
    if hit is not None and now - hit[0] <= TTL_SECONDS:
        value: T = hit[1]
        return value
    value = load()
    if len(_store) > _MAX_KEYS:
        _store.clear()
    _store[key] = (now, value)
    return value


def forget(*args: Any, **kwargs: Any) -> None:
    """Drop everything (a signal receiver; tests call it between tests)."""
    _store.clear()


# Model signals accept "app_label.Model" senders, so conversations need not import
# channels_in for its Inbox.
for _sender in (Agent, Team, Label, CannedResponse, "channels_in.Inbox"):
    post_save.connect(forget, sender=_sender, dispatch_uid=f"refdata.saved.{_sender}")
    post_delete.connect(forget, sender=_sender, dispatch_uid=f"refdata.deleted.{_sender}")
m2m_changed.connect(forget, sender=Team.members.through, dispatch_uid="refdata.team_members")


def active_agents() -> list[Agent]:
    """Active agents for assign menus: id, name and e-mail only."""
    return cached(
        "agents", lambda: list(Agent.objects.filter(is_active=True).only("id", "name", "email"))
    )


def teams() -> list[Team]:
    return cached("teams", lambda: list(Team.objects.only("id", "name")))


def visible_teams(agent: Agent) -> list[Team]:
    """The teams an agent's navigation lists: all of them, or the agent's own."""
    if agent.sees_all_teams:
        return teams()
    return cached(
        f"teams:{agent.pk}", lambda: list(Team.objects.filter(members=agent).only("id", "name"))
    )


def active_inboxes() -> list[Any]:
    """Active inboxes, whole rows (the composer asks their adapters)."""
    from django.apps import apps

    inbox_model = apps.get_model("channels_in", "Inbox")
    return cached("inboxes", lambda: list(inbox_model.objects.filter(is_active=True)))


def labels(limit: int = 50) -> list[Label]:
    return cached(f"labels:{limit}", lambda: list(Label.objects.all()[:limit]))


def canned_responses(limit: int = 200) -> list[CannedResponse]:
    return cached(f"canned:{limit}", lambda: list(CannedResponse.objects.all()[:limit]))
