"""Who may see what. Every view, consumer and API endpoint fetches through here.

Agents see conversations of their teams, team-less ones, and those assigned to
them; supervisors and admins see everything. No access looks exactly like "no
such object" (404), so ids can't be probed.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from conversations.models import Contact, Conversation
from helpdesk.models import Agent


def _team_ids(agent: Agent) -> list[int]:
    cached: list[int] | None = getattr(agent, "_team_ids_cache", None)
    if cached is None:
        cached = list(agent.teams.values_list("id", flat=True))
        agent._team_ids_cache = cached  # type: ignore[attr-defined]
    return cached


def conversation_visibility(agent: Agent, prefix: str = "") -> Q:
    if agent.sees_all_teams:
        return Q()
    return (
        Q(**{f"{prefix}team__isnull": True})
        | Q(**{f"{prefix}team_id__in": _team_ids(agent)})
        | Q(**{f"{prefix}assignee": agent})
    )


def conversations_for_agent(agent: Agent) -> QuerySet[Conversation]:
    if not agent.is_authenticated or not agent.is_active:
        return Conversation.objects.none()
    return Conversation.objects.filter(conversation_visibility(agent))


def get_conversation_for_agent(agent: Agent, conversation_id: int | str) -> Conversation:
    try:
        return (
            conversations_for_agent(agent)
            .select_related("contact", "assignee", "team")
            .get(pk=int(conversation_id))
        )
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("no such conversation") from None


def contacts_for_agent(agent: Agent) -> QuerySet[Contact]:
    if not agent.is_authenticated or not agent.is_active:
        return Contact.objects.none()
    if agent.sees_all_teams:
        return Contact.objects.all()
    visible = Conversation.objects.filter(conversation_visibility(agent), contact=OuterRef("pk"))
    return Contact.objects.filter(Exists(visible))


def get_contact_for_agent(agent: Agent, contact_id: int | str) -> Contact:
    try:
        return contacts_for_agent(agent).get(pk=int(contact_id))
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise Http404("no such contact") from None
