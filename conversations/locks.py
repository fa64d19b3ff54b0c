"""select_for_update helpers. Lock order is always contact, then conversation, then entry.

Every lock is FOR NO KEY UPDATE: we never change a locked row's key, and a plain FOR
UPDATE would also block the FOR KEY SHARE that PostgreSQL takes to check foreign
keys at commit; an agent's reply (entry -> contact) and a customer message (contact
locked, then the conversation) deadlocked on exactly that.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from conversations.models import Contact, Conversation, Entry

Row = TypeVar("Row", Contact, Conversation)


@dataclass
class Held:
    """Rows a batch transaction has locked, one shared instance per row.

    Inside `holding()` a second lock of the same row returns the instance locked
    first (no query), so every step of the batch sees the others' changes.
    """

    contacts: dict[int, Contact] = field(default_factory=dict)
    conversations: dict[int, Conversation] = field(default_factory=dict)


_local = threading.local()


def held() -> Held | None:
    return getattr(_local, "held", None)


@contextlib.contextmanager
def holding() -> Iterator[Held]:
    """Remember locked rows until the block ends; use it inside the transaction."""
    outer = held()
    if outer is not None:
        yield outer
        return
    _local.held = Held()
    try:
        yield _local.held
    finally:
        _local.held = None


def forget() -> None:
    """Drop what is remembered (a savepoint rolled back: instances may be stale)."""
    if held() is not None:
        _local.held = Held()


def _held_rows(model: type[Row]) -> dict[int, Row] | None:
    state = held()
    if state is None:
        return None
    rows = state.contacts if model is Contact else state.conversations
    return rows  # type: ignore[return-value]


def _lock(model: type[Row], pk: int) -> Row:
    rows = _held_rows(model)
    if rows is not None and pk in rows:
        return rows[pk]
    row = model._default_manager.select_for_update(no_key=True).get(pk=pk)
    if rows is not None:
        rows[pk] = row
    return row


def _hold(row: Row) -> None:
    rows = _held_rows(type(row))
    if rows is not None:
        rows[row.pk] = row


def lock_contact(contact_id: int) -> Contact:
    # Serializes "pick or create the conversation" per contact, so two messages of a
    # new customer arriving at once land in one conversation (no-op on SQLite, where
    # IMMEDIATE transactions already serialize writers).
    return _lock(Contact, contact_id)


def hold_contact(contact: Contact) -> None:
    """Remember a contact this transaction created (it is ours until commit)."""
    _hold(contact)


def lock_contacts(contact_ids: Iterable[int]) -> dict[int, Contact]:
    """Lock many contacts in one query, in id order (the same order every batch uses)."""
    ids = list(contact_ids)
    rows = _held_rows(Contact)
    wanted = set(ids) - set(rows or ())
    locked = {
        c.pk: c
        for c in Contact.objects.select_for_update(no_key=True).filter(pk__in=wanted).order_by("pk")
    }
    if rows is None:
        return locked
    rows.update(locked)
    return {pk: rows[pk] for pk in ids if pk in rows}


def lock_conversation(conversation_id: int) -> Conversation:
    return _lock(Conversation, conversation_id)


def hold_conversation(conversation: Conversation) -> None:
    """Remember a conversation this transaction created (it is ours until commit)."""
    _hold(conversation)


def lock_entry(entry_id: int) -> Entry:
    return Entry.objects.select_for_update(no_key=True).get(pk=entry_id)
