"""select_for_update helpers. Lock order is always contact, then conversation, then entry.

Every lock is FOR NO KEY UPDATE: we never change a locked row's key, and a plain FOR
UPDATE would also block the FOR KEY SHARE that PostgreSQL takes to check foreign
keys at commit; an agent's reply (entry -> contact) and a customer message (contact
locked, then the conversation) deadlocked on exactly that.
"""

from __future__ import annotations

from conversations.models import Contact, Conversation, Entry


def lock_contact(contact_id: int) -> Contact:
    # Serializes "pick or create the conversation" per contact, so two messages of a
    # new customer arriving at once land in one conversation (no-op on SQLite, where
    # IMMEDIATE transactions already serialize writers).
    return Contact.objects.select_for_update(no_key=True).get(pk=contact_id)


def lock_conversation(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update(no_key=True).get(pk=conversation_id)


def lock_entry(entry_id: int) -> Entry:
    return Entry.objects.select_for_update(no_key=True).get(pk=entry_id)
