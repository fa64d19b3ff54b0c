"""select_for_update helpers. Lock order is always contact, then conversation, then entry."""

from __future__ import annotations

from conversations.models import Contact, Conversation, Entry


def lock_contact(contact_id: int) -> Contact:
    # Serializes "pick or create the conversation" per contact, so two messages of a
    # new customer arriving at once land in one conversation (no-op on SQLite, where
    # IMMEDIATE transactions already serialize writers).
    return Contact.objects.select_for_update().get(pk=contact_id)


def lock_conversation(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def lock_entry(entry_id: int) -> Entry:
    return Entry.objects.select_for_update().get(pk=entry_id)
