"""One writer per timeline event kind; actions call only these."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from conversations.models import Conversation, Entry
from helpdesk.models import Agent


def _event(
    conversation: Conversation,
    event: str,
    actor: Agent | None,
    parameters: dict[str, Any],
    at: Any = None,
    channel: str = "",
) -> Entry:
    return Entry.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        kind=Entry.Kind.EVENT,
        event=event,
        author=actor,
        channel=channel,
        parameters=parameters,
        occurred_at=at or timezone.now(),
    )


def event_status_changed(
    conversation: Conversation,
    actor: Agent | None,
    old: str,
    new: str,
    at: Any = None,
    **extra: Any,
) -> Entry:
    return _event(conversation, "status_changed", actor, {"from": old, "to": new, **extra}, at)


def event_reopened(
    conversation: Conversation, actor: Agent | None, reason: str, at: Any = None
) -> Entry:
    return _event(conversation, "reopened", actor, {"reason": reason}, at)


def event_assigned(
    conversation: Conversation,
    actor: Agent | None,
    assignee: Agent | None,
    team_name: str | None,
    at: Any = None,
) -> Entry:
    parameters: dict[str, Any] = {
        "assignee": assignee.email if assignee else None,
        "assignee_name": assignee.display_name if assignee else None,
        "team": team_name,
    }
    return _event(conversation, "assigned", actor, parameters, at)


def event_priority_changed(
    conversation: Conversation, actor: Agent | None, old: str, new: str
) -> Entry:
    return _event(conversation, "priority_changed", actor, {"from": old, "to": new})


def event_labels_changed(
    conversation: Conversation, actor: Agent | None, added: list[str], removed: list[str]
) -> Entry:
    return _event(conversation, "labels_changed", actor, {"added": added, "removed": removed})


def event_channel_switched(
    conversation: Conversation, actor: Agent | None, old: str, new: str, by: str, at: Any = None
) -> Entry:
    return _event(
        conversation, "channel_switched", actor, {"from": old, "to": new, "by": by}, at, channel=new
    )


def event_contacts_merged(
    conversation: Conversation,
    actor: Agent | None,
    source_id: int,
    source_name: str,
    moved: dict[str, int],
) -> Entry:
    parameters = {"source_contact": source_id, "source_name": source_name, "moved": moved}
    return _event(conversation, "contacts_merged", actor, parameters)


def event_delivery_failed(conversation: Conversation, entry: Entry, reason: str) -> Entry:
    parameters = {"entry": str(entry.public_id), "reason": reason}
    return _event(conversation, "delivery_failed", None, parameters, channel=entry.channel)
