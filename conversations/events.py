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


# --- calls (one entry per call; these mark its moments on the timeline) ---------------


def _call_event(
    conversation: Conversation, event: str, call: Entry, extra: dict[str, Any], at: Any
) -> Entry:
    parameters = {"call": str(call.public_id), **extra}
    return _event(conversation, event, None, parameters, at, channel=call.channel)


def event_call_started(conversation: Conversation, call: Entry, at: Any = None) -> Entry:
    direction = call.parameters.get("direction", "inbound")
    return _call_event(conversation, "call_started", call, {"direction": direction}, at)


def event_call_answered(
    conversation: Conversation, call: Entry, answered_by: str, at: Any = None
) -> Entry:
    return _call_event(conversation, "call_answered", call, {"answered_by": answered_by}, at)


def event_call_missed(
    conversation: Conversation, call: Entry, voicemail: bool, at: Any = None
) -> Entry:
    return _call_event(conversation, "call_missed", call, {"voicemail": voicemail}, at)


def event_call_ended(
    conversation: Conversation, call: Entry, status: str, duration: int | None, at: Any = None
) -> Entry:
    extra = {"status": status, "duration": duration}
    return _call_event(conversation, "call_ended", call, extra, at)


def event_callback_requested(
    conversation: Conversation, actor: Agent | None, number: str, source: str, at: Any = None
) -> Entry:
    parameters = {"number": number, "source": source}
    return _event(conversation, "callback_requested", actor, parameters, at, channel="phone")


def event_survey_requested(
    conversation: Conversation, survey: str, channel: str, parameters: dict[str, Any]
) -> Entry:
    """We asked the customer to rate the conversation (the chat widget shows buttons)."""
    return _event(
        conversation, "survey_requested", None, {"survey": survey, **parameters}, channel=channel
    )


def event_survey_answered(
    conversation: Conversation,
    survey: str,
    score: int,
    comment: str,
    channel: str = "",
    at: Any = None,
) -> Entry:
    parameters = {"survey": survey, "score": score, "comment": comment}
    return _event(conversation, "survey_answered", None, parameters, at, channel=channel)
