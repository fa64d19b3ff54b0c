"""The core's extension signals (sent after commit) turned into webhook events.

Receivers are quick: one query for the subscriptions, a snapshot of the object,
delivery rows, and an enqueued task per delivery (webhooks.actions.emit).
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from conversations import signals
from conversations.models import Contact, Conversation, Entry
from conversations.payloads import conversation_summary, entry_payload
from webhooks import actions
from webhooks.models import Event, Subscription

MESSAGE_KINDS = (Entry.Kind.INBOUND, Entry.Kind.OUTBOUND)


# Every inbound message fires three signals; reading the (tiny, rarely changed)
# subscription table once per signal was 3 of ~25 queries per message. Each process
# keeps the active ones for a few seconds; a change made in this process clears it at
# once, one made elsewhere is seen within SUBSCRIPTIONS_TTL seconds.
SUBSCRIPTIONS_TTL = 2.0
_subscriptions: tuple[float, list[Subscription]] | None = None


def _active_subscriptions() -> list[Subscription]:
    global _subscriptions
    now = time.monotonic()
    if _subscriptions is None or now - _subscriptions[0] > SUBSCRIPTIONS_TTL:
        _subscriptions = (now, list(Subscription.objects.filter(is_active=True)))
    return _subscriptions[1]


@receiver(post_save, sender=Subscription, dispatch_uid="webhooks.subscriptions_saved")
@receiver(post_delete, sender=Subscription, dispatch_uid="webhooks.subscriptions_deleted")
def _forget_subscriptions(sender: Any, **kwargs: Any) -> None:
    global _subscriptions
    _subscriptions = None


def _listening(event: str) -> bool:
    return any(s.wants(event) for s in _active_subscriptions())


def _conversation(conversation_id: int) -> dict[str, Any] | None:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return conversation_summary(conversation) if conversation is not None else None


def _contact(contact_id: int) -> dict[str, Any] | None:
    contact = Contact.objects.filter(pk=contact_id).prefetch_related("identities").first()
    if contact is None:
        return None
    return {
        "id": contact.pk,
        "public_id": str(contact.public_id),
        "name": contact.name,
        "identities": [{"kind": i.kind, "value": i.value} for i in contact.identities.all()],
        "created_at": contact.created_at.isoformat(),
    }


@receiver(signals.conversation_created)
def on_conversation_created(sender: Any, conversation_id: int, **kwargs: Any) -> None:
    if _listening(Event.CONVERSATION_CREATED):
        data = _conversation(conversation_id)
        if data is not None:
            actions.emit(Event.CONVERSATION_CREATED, {"conversation": data})


@receiver(signals.conversation_changed)
def on_conversation_changed(
    sender: Any, conversation_id: int, change: str, old: Any = None, new: Any = None, **kwargs: Any
) -> None:
    event = {
        "status": Event.CONVERSATION_STATUS_CHANGED,
        "assigned": Event.CONVERSATION_ASSIGNED,
    }.get(change)
    if event is None or not _listening(event):
        return
    data = _conversation(conversation_id)
    if data is not None:
        actions.emit(event, {"conversation": data, "old": old, "new": new})


@receiver(signals.entry_created)
def on_entry_created(
    sender: Any, entry_id: int, conversation_id: int, kind: str, **kwargs: Any
) -> None:
    if kind not in MESSAGE_KINDS or not _listening(Event.MESSAGE_CREATED):
        return
    entry = Entry.objects.filter(pk=entry_id).select_related("author").first()
    if entry is not None:
        actions.emit(
            Event.MESSAGE_CREATED,
            {"message": entry_payload(entry), "conversation": _conversation(conversation_id)},
        )


@receiver(signals.contact_created)
def on_contact_created(sender: Any, contact_id: int, **kwargs: Any) -> None:
    if _listening(Event.CONTACT_CREATED):
        data = _contact(contact_id)
        if data is not None:
            actions.emit(Event.CONTACT_CREATED, {"contact": data})


@receiver(signals.contacts_merged)
def on_contacts_merged(sender: Any, source_id: int, target_id: int, **kwargs: Any) -> None:
    if _listening(Event.CONTACT_MERGED):
        actions.emit(Event.CONTACT_MERGED, {"source": source_id, "target": _contact(target_id)})


@receiver(signals.survey_answered)
def on_survey_answered(
    sender: Any,
    conversation_id: int,
    entry_id: int,
    survey: str,
    score: int,
    **kwargs: Any,
) -> None:
    if _listening(Event.SURVEY_ANSWERED):
        actions.emit(
            Event.SURVEY_ANSWERED,
            {
                "conversation": _conversation(conversation_id),
                "entry": entry_id,
                "survey": survey,
                "score": score,
            },
        )
