"""Every state change of the core, as a named function. Nothing else writes.

Each action runs in a transaction, writes its timeline entries through events.py,
and publishes live updates (and enqueues tasks) only after commit.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events, locks, realtime, signals
from conversations.identities import IdentityRef
from conversations.inbound import AttachmentRef, CallUpdate, DeliveryUpdate, InboundMessage
from conversations.models import Attachment, Contact, Conversation, Entry, Identity, Label
from conversations.payloads import conversation_summary, entry_payload
from helpdesk.models import Agent, Team
from helpdesk.queue import enqueue_on_commit

log = logging.getLogger(__name__)

# Sent inside the erase transaction with the contact id, so apps that keep raw
# copies of the customer's data (channels_in's InboundEvent) scrub them too.
contact_erased = Signal()

SEND_OUTBOUND_TASK = "channels_in.send_outbound"


class ActionError(ValueError):
    """The action cannot be done as asked; the message is for the user."""


# --- contacts ---------------------------------------------------------------------


def _owner(contact: Contact) -> Contact:
    # Follow merges: an identity may still point at a merged contact in old data.
    seen = 0
    while contact.merged_into_id is not None and seen < 10:
        contact = Contact.objects.get(pk=contact.merged_into_id)
        seen += 1
    return contact


def _identities_query(refs: list[IdentityRef]) -> Q:
    by_kind: dict[str, set[str]] = {}
    for ref in refs:
        by_kind.setdefault(ref.kind, set()).add(ref.value)
    query = Q()
    for kind, values in by_kind.items():
        query |= Q(kind=kind, value__in=values)
    return query


def _find_identities(refs: list[IdentityRef]) -> list[Identity]:
    batch = _inbound_batch()
    if batch is not None and batch.identities_looked_up.issuperset((r.kind, r.value) for r in refs):
        keys = [(r.kind, r.value) for r in refs]
        return [batch.identities[k] for k in keys if k in batch.identities]
    return list(Identity.objects.filter(_identities_query(refs)).select_related("contact"))


def resolve_contact(refs: list[IdentityRef], name: str = "") -> Contact:
    """The contact owning any of these identities; the others are added to it.

    Creates the contact when none is known. Safe under concurrency: the unique
    (kind, value) constraint decides who wins a race, the loser adopts the winner.
    """
    if not refs:
        raise ActionError(_("A message needs at least one identity of its sender."))
    for _attempt in range(3):
        found = _find_identities(refs)
        by_key = {(i.kind, i.value): i for i in found}
        owner: Contact | None = None
        for ref in refs:  # the first identity given is the primary one
            if (ref.kind, ref.value) in by_key:
                owner = _owner(by_key[(ref.kind, ref.value)].contact)
                break
        missing = [r for r in refs if (r.kind, r.value) not in by_key]
        if owner is not None and not missing and (owner.name or not name):
            return owner  # the common case: a known customer, nothing to write
        try:
            with transaction.atomic():
                if owner is None:
                    owner = Contact.objects.create(name=name[:200])
                    signals.send_on_commit(signals.contact_created, contact_id=owner.pk)
                elif name and not owner.name:
                    owner.name = name[:200]
                    owner.save(update_fields=["name", "updated_at"])
                    for same in _held_copies(owner):
                        same.name = owner.name
                created = [
                    Identity.objects.create(contact=owner, kind=ref.kind, value=ref.value)
                    for ref in missing
                ]
            batch = _inbound_batch()
            if batch is not None:
                batch.added(owner, created, new_contact=not found)
            return owner
        except IntegrityError:
            batch = _inbound_batch()
            if batch is not None:  # what the batch read is no longer true: ask the database
                batch.identities_looked_up.difference_update((r.kind, r.value) for r in refs)
            continue  # another process created one of these identities first: look again
    raise ActionError(_("Could not resolve the contact; please retry."))


def add_identity(contact: Contact, ref: IdentityRef, *, verified: bool = False) -> Identity:
    with transaction.atomic():
        existing = Identity.objects.filter(kind=ref.kind, value=ref.value).first()
        if existing is not None:
            if existing.contact_id != contact.pk:
                raise ActionError(
                    _("%(value)s already belongs to another contact; merge them instead.")
                    % {"value": ref.value}
                )
            return existing
        return Identity.objects.create(
            contact=contact, kind=ref.kind, value=ref.value, verified=verified
        )


def update_contact(
    contact: Contact, *, name: str | None = None, attributes: dict[str, Any] | None = None
) -> Contact:
    fields = ["updated_at"]
    if name is not None:
        contact.name = name[:200]
        fields.append("name")
    if attributes is not None:
        contact.attributes = {**contact.attributes, **attributes}
        fields.append("attributes")
    contact.save(update_fields=fields)
    return contact


@transaction.atomic
def merge_contacts(source: Contact, target: Contact, actor: Agent | None = None) -> Contact:
    """Move identities, conversations and history of `source` into `target`.

    The source row stays, pointing at the target, so the merge can be found later.
    """
    if source.pk == target.pk:
        raise ActionError(_("A contact cannot be merged into itself."))
    # Lock in id order, whatever the argument order, so two merges can't deadlock.
    first, second = sorted((source.pk, target.pk))
    locks.lock_contact(first)
    locks.lock_contact(second)
    source.refresh_from_db()
    if source.merged_into_id is not None:
        raise ActionError(_("That contact was already merged."))
    moved = {
        "identities": Identity.objects.filter(contact=source).update(contact=target),
        "conversations": Conversation.objects.filter(contact=source).update(contact=target),
        "entries": Entry.objects.filter(contact=source).update(contact=target),
    }
    target.attributes = {**source.attributes, **target.attributes}
    if not target.name and source.name:
        target.name = source.name
    target.save(update_fields=["attributes", "name", "updated_at"])
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    signals.send_on_commit(signals.contacts_merged, source_id=source.pk, target_id=target.pk)
    latest = Conversation.objects.filter(contact=target).order_by("-last_message_at", "-id").first()
    if latest is not None:
        entry = events.event_contacts_merged(latest, actor, source.pk, source.name, moved)
        _publish_entry(entry)
    return target


@transaction.atomic
def erase_contact(contact: Contact) -> dict[str, int]:
    """The right to erasure: content and identities go, anonymous counts stay.

    Conversations and entries keep their kinds, channels and times, so KPIs for past
    periods do not change; bodies, names, addresses and files are removed.
    """
    contact = locks.lock_contact(contact.pk)
    attachments = Attachment.objects.filter(entry__contact=contact)
    files = [a.file.name for a in attachments if a.file and a.file.name]
    counts = {
        "identities": Identity.objects.filter(contact=contact).delete()[0],
        "attachments": attachments.delete()[0],
        "entries": Entry.objects.filter(contact=contact).update(
            body="", html="", subject="", parameters={}, delivery_error=""
        ),
    }
    Conversation.objects.filter(contact=contact).update(subject="")
    contact.name = ""
    contact.attributes = {}
    contact.erased_at = timezone.now()
    contact.save(update_fields=["name", "attributes", "erased_at", "updated_at"])
    contact_erased.send(sender=Contact, contact_id=contact.pk)

    def delete_files() -> None:
        from django.core.files.storage import default_storage

        for name in files:
            default_storage.delete(name)

    transaction.on_commit(delete_files)
    return counts


# --- inbound ----------------------------------------------------------------------


@dataclass
class Recorded:
    entry: Entry
    created: bool


def _conversation_from_hints(msg: InboundMessage) -> Conversation | None:
    hints = msg.thread
    if hints.replies_to:
        batch = _inbound_batch()
        wanted = hints.replies_to[-50:]
        if batch is not None and batch.hints_looked_up.issuperset(wanted):
            earlier = batch.replied_to(wanted)
        else:
            earlier = (
                Entry.objects.filter(provider_id__in=wanted)
                .select_related("conversation")
                .order_by("-occurred_at")
                .first()
            )
        if earlier is not None:
            state = locks.held()
            if state is not None and earlier.conversation_id in state.conversations:
                return state.conversations[earlier.conversation_id]  # as changed so far
            return earlier.conversation
    if hints.conversation_public_id is not None:
        return Conversation.objects.filter(public_id=hints.conversation_public_id).first()
    if hints.conversation_number is not None:
        return Conversation.objects.filter(pk=hints.conversation_number).first()
    return None


def _new_conversation(
    contact: Contact, msg: InboundMessage, at: datetime, previous: Conversation | None
) -> Conversation:
    conversation = Conversation.objects.create(
        contact=contact,
        inbox_id=msg.inbox_id,
        team_id=msg.team_id,
        subject=msg.subject[:300],
        previous=previous,
        first_channel=msg.channel,
        created_at=at,
    )
    locks.hold_conversation(conversation)
    return conversation


def _reopen(conversation: Conversation, at: datetime, reason: str, actor: Agent | None) -> None:
    old = conversation.status
    conversation.status = Conversation.Status.OPEN
    conversation.reopened_count += 1
    conversation.snoozed_until = None
    conversation.save(update_fields=["status", "reopened_count", "snoozed_until", "updated_at"])
    events.event_reopened(conversation, actor, reason, at)
    events.event_status_changed(conversation, actor, old, conversation.status, at)
    signals.send_on_commit(
        signals.conversation_changed,
        conversation_id=conversation.pk,
        change="status",
        old=old,
        new=conversation.status,
    )


def _pick_conversation(
    contact: Contact, msg: InboundMessage, at: datetime
) -> tuple[Conversation, bool]:
    """The conversation a new customer message joins; True if it was created."""
    hinted = _conversation_from_hints(msg)
    if hinted is not None:
        if hinted.is_active or _stays_resolved(hinted, msg):
            return hinted, False
        if hinted.can_reopen_at(at):
            _reopen(hinted, at, "customer_replied", None)
            return hinted, False
        return _new_conversation(contact, msg, at, previous=hinted), True
    batch = _inbound_batch()
    if batch is not None and contact.pk in batch.active:
        active = batch.active[contact.pk]
    else:
        active = (
            Conversation.objects.filter(contact=contact, status__in=Conversation.ACTIVE_STATUSES)
            .order_by("-last_message_at", "-id")
            .first()
        )
    if active is not None:
        return active, False
    if batch is not None and contact.pk in batch.new_contacts:
        latest = None  # created in this transaction: it has no history
    else:
        latest = (
            Conversation.objects.filter(contact=contact, status=Conversation.Status.RESOLVED)
            .order_by("-resolved_at", "-id")
            .first()
        )
    if latest is not None and _stays_resolved(latest, msg):
        return latest, False
    if latest is not None and latest.can_reopen_at(at):
        _reopen(latest, at, "customer_replied", None)
        return latest, False
    return _new_conversation(contact, msg, at, previous=latest), True


def _stays_resolved(conversation: Conversation, msg: InboundMessage) -> bool:
    """Whether a message to a resolved conversation is recorded on it without reopening.

    Automatic messages (out-of-office replies, reactions, bounces) never reopen a
    conversation or start a new one; nor do answers an extension claims through
    `signals.keeps_resolved` (a survey score sent by SMS must not cost the FCR).
    """
    if msg.is_auto:
        return True
    answers = signals.keeps_resolved.send(
        sender=Conversation, conversation_id=conversation.pk, channel=msg.channel, body=msg.body
    )
    return any(keep is True for _receiver, keep in answers)


def _store_attachments(entry: Entry, refs: list[AttachmentRef]) -> list[Attachment]:
    stored = []
    for ref in refs:
        content_type = ref.content_type or mimetypes.guess_type(ref.filename)[0] or ""
        attachment = Attachment(
            entry=entry,
            filename=(ref.filename or "attachment")[:255],
            content_type=content_type[:100] or "application/octet-stream",
            size=ref.size or (len(ref.content) if ref.content is not None else 0),
            source_url=ref.url[:1000],
        )
        if ref.content is not None:
            check_attachment(attachment.filename, attachment.content_type, len(ref.content))
            attachment.file.save(attachment.filename, ContentFile(ref.content), save=False)
        attachment.save()
        stored.append(attachment)
    return stored


def check_attachment(filename: str, content_type: str, size: int) -> None:
    """Raise ActionError when a file breaks the size or type limits."""
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise ActionError(
            _("%(name)s is %(size)d bytes; the limit is %(limit)d bytes.")
            % {"name": filename, "size": size, "limit": settings.ATTACHMENT_MAX_BYTES}
        )
    if content_type in settings.ATTACHMENT_BLOCKED_TYPES:
        raise ActionError(_("Files of type %(type)s are not accepted.") % {"type": content_type})


def _publish_entry(entry: Entry, *, created_conversation: bool = False) -> None:
    conversation = entry.conversation
    payload = entry_payload(entry)
    realtime.publish_on_commit(
        realtime.conversation_group(conversation.pk), {"type": "entry.created", "entry": payload}
    )
    summary = conversation_summary(conversation)
    kind = "conversation.created" if created_conversation else "conversation.updated"
    realtime.publish_on_commit(
        realtime.team_group(conversation.team_id), {"type": kind, "conversation": summary}
    )
    if entry.kind != Entry.Kind.NOTE:
        realtime.publish_on_commit(
            realtime.visitor_group(conversation.contact_id),
            {"type": "entry.created", "entry": payload},
        )
    if created_conversation:
        signals.send_on_commit(signals.conversation_created, conversation_id=conversation.pk)
    signals.send_on_commit(
        signals.entry_created,
        entry_id=entry.pk,
        conversation_id=conversation.pk,
        kind=entry.kind,
        event=entry.event,
    )


# --- many inbound messages in one transaction --------------------------------------


@dataclass
class _InboundBatch:
    """What recording a batch of messages needs, read and locked in a few queries."""

    # (kind, value) -> identity with its contact, for every sender already known; and
    # every (kind, value) looked up (those missing were unknown then)
    identities: dict[tuple[str, str], Identity] = field(default_factory=dict)
    identities_looked_up: set[tuple[str, str]] = field(default_factory=set)
    # (inbox id, provider id) looked up, and the entries found for them
    looked_up: set[tuple[int, str]] = field(default_factory=set)
    existing: dict[tuple[int, str], Entry] = field(default_factory=dict)
    # contact id -> its newest active conversation (locked), or None: it has none
    active: dict[int, Conversation | None] = field(default_factory=dict)
    # contacts created in this transaction (no history to look up)
    new_contacts: set[int] = field(default_factory=set)
    # provider ids that threading hints name, looked up; the newest entry of each found
    hints_looked_up: set[str] = field(default_factory=set)
    by_provider_id: dict[str, Entry] = field(default_factory=dict)
    # widget client ids looked up, and the entries found: (contact id, client id)
    client_ids_looked_up: set[uuid.UUID] = field(default_factory=set)
    by_client_id: dict[tuple[int, uuid.UUID], Entry] = field(default_factory=dict)

    def added(self, contact: Contact, identities: list[Identity], *, new_contact: bool) -> None:
        for identity in identities:
            identity.contact = contact
            self.identities[(identity.kind, identity.value)] = identity
        if new_contact:
            self.new_contacts.add(contact.pk)
            self.active[contact.pk] = None
            locks.hold_contact(contact)  # ours alone until commit

    def replied_to(self, provider_ids: list[str]) -> Entry | None:
        found = [self.by_provider_id[p] for p in provider_ids if p in self.by_provider_id]
        return max(found, key=lambda e: e.occurred_at, default=None)

    def _keep_newest(self, entry: Entry) -> None:
        if entry.provider_id:
            known = self.by_provider_id.get(entry.provider_id)
            if known is None or entry.occurred_at > known.occurred_at:
                self.by_provider_id[entry.provider_id] = entry

    def recorded(self, entry: Entry, conversation: Conversation) -> None:
        self._keep_newest(entry)
        if entry.client_id is not None:
            self.by_client_id[(entry.contact_id, entry.client_id)] = entry
        if entry.provider_id and entry.inbox_id is not None:
            key = (entry.inbox_id, entry.provider_id)
            self.looked_up.add(key)
            self.existing[key] = entry
        if conversation.is_active:
            newest = self.active.get(conversation.contact_id)
            if newest is None or _newer(conversation, newest):
                self.active[conversation.contact_id] = conversation


def _newer(a: Conversation, b: Conversation) -> bool:
    # The order record_inbound's query picks the active conversation by.
    if a.last_message_at != b.last_message_at:
        if a.last_message_at is None or b.last_message_at is None:
            return b.last_message_at is None
        return a.last_message_at > b.last_message_at
    return a.pk > b.pk


_batch_local = threading.local()


def _inbound_batch() -> _InboundBatch | None:
    return getattr(_batch_local, "batch", None)


def _held_copies(contact: Contact) -> list[Contact]:
    state = locks.held()
    copy = state.contacts.get(contact.pk) if state is not None else None
    return [copy] if copy is not None and copy is not contact else []


@contextlib.contextmanager
def inbound_batch(messages: list[InboundMessage]) -> Iterator[None]:
    """Prepare to record many messages in the surrounding transaction.

    In four queries: earlier copies of their provider ids, their known senders,
    those senders' contacts (locked, in id order) and active conversations (locked).
    record_inbound then asks the database only for what is new. If recording one
    message fails and its savepoint rolls back, call `forget_inbound_batch()`: what
    was read may no longer be true.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("inbound_batch() needs a transaction")
    with locks.holding():
        _batch_local.batch = _prepare(messages)
        try:
            yield
        finally:
            _batch_local.batch = None


def forget_inbound_batch() -> None:
    if _inbound_batch() is not None:
        _batch_local.batch = _InboundBatch()
        locks.forget()


def _prepare(messages: list[InboundMessage]) -> _InboundBatch:
    batch = _InboundBatch()
    by_inbox: dict[int, set[str]] = {}
    for msg in messages:
        if msg.provider_id:
            by_inbox.setdefault(msg.inbox_id, set()).add(msg.provider_id)
    if by_inbox:
        query = Q()
        for inbox_id, provider_ids in by_inbox.items():
            query |= Q(inbox_id=inbox_id, provider_id__in=provider_ids)
            batch.looked_up.update((inbox_id, p) for p in provider_ids)
        for entry in Entry.objects.filter(query):
            batch.existing.setdefault((entry.inbox_id or 0, entry.provider_id or ""), entry)
    hinted = {ref for msg in messages for ref in msg.thread.replies_to[-50:]}
    if hinted:
        batch.hints_looked_up = hinted
        for entry in Entry.objects.filter(provider_id__in=hinted).select_related("conversation"):
            batch._keep_newest(entry)
    refs = [ref for msg in messages for ref in msg.identities]
    if not refs:
        return batch
    batch.identities_looked_up = {(ref.kind, ref.value) for ref in refs}
    owners: dict[int, Contact] = {}
    for identity in Identity.objects.filter(_identities_query(refs)).select_related("contact"):
        batch.identities[(identity.kind, identity.value)] = identity
        owner = _owner(identity.contact)
        owners[owner.pk] = owner
    client_ids = {msg.client_id for msg in messages if msg.client_id is not None}
    if client_ids:
        # Earlier copies can only belong to known senders (a new sender's contact is
        # new). By client id alone PostgreSQL read every chat entry ever stored, per
        # batch: the index is (contact_id, client_id).
        batch.client_ids_looked_up = client_ids
        if owners:
            for entry in Entry.objects.filter(contact_id__in=owners, client_id__in=client_ids):
                if entry.client_id is not None:
                    batch.by_client_id[(entry.contact_id, entry.client_id)] = entry
    if not owners:
        return batch
    locks.lock_contacts(owners)
    conversations = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(contact_id__in=owners, status__in=Conversation.ACTIVE_STATUSES)
        .order_by("pk")
    )
    batch.active = dict.fromkeys(owners)
    state = locks.held()
    for conversation in conversations:
        if state is not None:
            conversation = state.conversations.setdefault(conversation.pk, conversation)
        newest = batch.active[conversation.contact_id]
        if newest is None or _newer(conversation, newest):
            batch.active[conversation.contact_id] = conversation
    return batch


# savepoint=False: callers that need to survive a failure here (process_event) wrap
# it in their own savepoint; two more round trips per message bought nothing.
@transaction.atomic(savepoint=False)
def record_inbound(msg: InboundMessage) -> Recorded:
    """Record a normalized message from any channel on the customer's timeline.

    Idempotent: the same (inbox, provider id), or the same widget client id, is one
    entry however often it arrives, from however many processes at once.
    """
    batch = _inbound_batch()
    if msg.provider_id:
        key = (msg.inbox_id, msg.provider_id)
        if batch is not None and key in batch.looked_up:
            existing = batch.existing.get(key)
        else:
            existing = Entry.objects.filter(
                inbox_id=msg.inbox_id, provider_id=msg.provider_id
            ).first()
        if existing is not None:
            return Recorded(existing, False)
    contact = resolve_contact(msg.identities, msg.contact_name)
    contact = locks.lock_contact(contact.pk)
    if msg.client_id is not None:
        if batch is not None and msg.client_id in batch.client_ids_looked_up:
            existing = batch.by_client_id.get((contact.pk, msg.client_id))
        else:
            existing = Entry.objects.filter(contact=contact, client_id=msg.client_id).first()
        if existing is not None:
            return Recorded(existing, False)
    at = msg.occurred_at or timezone.now()
    if msg.direction == "outbound":
        return _record_echo(contact, msg, at)

    conversation, created = _pick_conversation(contact, msg, at)
    if not created:
        # A conversation we just inserted is ours alone until commit; lock only others.
        conversation = locks.lock_conversation(conversation.pk)
    previous_channel = conversation.last_inbound_channel
    entry = Entry(
        conversation=conversation,
        contact=contact,
        kind=Entry.Kind.INBOUND,
        channel=msg.channel,
        inbox_id=msg.inbox_id,
        subject=msg.subject[:300],
        body=msg.body,
        html=msg.html,
        provider_id=msg.provider_id,
        client_id=msg.client_id,
        is_auto=msg.is_auto,
        parameters=msg.parameters,
        occurred_at=at,
    )
    try:
        # In a batch the caller's savepoint per message catches this (and retries the
        # message later, when the check above finds the copy); one savepoint is enough.
        with transaction.atomic(savepoint=batch is None):
            entry.save()
    except IntegrityError:
        if batch is not None:
            raise
        # Another process recorded the same provider id between our check and insert.
        existing = Entry.objects.filter(
            Q(inbox_id=msg.inbox_id, provider_id=msg.provider_id)
            if msg.provider_id
            else Q(contact=contact, client_id=msg.client_id)
        ).first()
        if existing is None:
            raise
        return Recorded(existing, False)
    _store_attachments(entry, msg.attachments)

    if previous_channel and previous_channel != msg.channel:
        switch = events.event_channel_switched(
            conversation, None, previous_channel, msg.channel, by="customer", at=at
        )
        _publish_entry(switch)
    _apply_inbound_lifecycle(conversation, entry)
    if batch is not None:
        batch.recorded(entry, conversation)
    _publish_entry(entry, created_conversation=created)
    return Recorded(entry, True)


def _apply_inbound_lifecycle(conversation: Conversation, entry: Entry) -> None:
    at = entry.occurred_at
    fields = ["updated_at"]
    if conversation.first_inbound_at is None or at < conversation.first_inbound_at:
        conversation.first_inbound_at = at
        fields.append("first_inbound_at")
        if not conversation.first_channel:
            conversation.first_channel = entry.channel
            fields.append("first_channel")
    if conversation.last_inbound_at is None or at >= conversation.last_inbound_at:
        conversation.last_inbound_at = at
        conversation.last_inbound_channel = entry.channel
        fields += ["last_inbound_at", "last_inbound_channel"]
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
        fields.append("last_message_at")
    if conversation.waiting_since is None and not entry.is_auto and conversation.is_active:
        conversation.waiting_since = at
        fields.append("waiting_since")
    if conversation.status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
        old = conversation.status
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        fields += ["status", "snoozed_until"]
        events.event_status_changed(conversation, None, old, conversation.status, at)
        signals.send_on_commit(
            signals.conversation_changed,
            conversation_id=conversation.pk,
            change="status",
            old=old,
            new=conversation.status,
        )
    conversation.save(update_fields=fields)


def _record_echo(contact: Contact, msg: InboundMessage, at: datetime) -> Recorded:
    """A message the business sent from elsewhere (e.g. the WhatsApp Business app)."""
    conversation, created = _pick_conversation(contact, msg, at)
    conversation = locks.lock_conversation(conversation.pk)
    entry = Entry(
        conversation=conversation,
        contact=contact,
        kind=Entry.Kind.OUTBOUND,
        channel=msg.channel,
        inbox_id=msg.inbox_id,
        body=msg.body,
        html=msg.html,
        provider_id=msg.provider_id,
        delivery_status=Entry.Delivery.SENT,
        is_auto=msg.is_auto,
        parameters={**msg.parameters, "echo": True},
        occurred_at=at,
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        existing = Entry.objects.filter(inbox_id=msg.inbox_id, provider_id=msg.provider_id).first()
        if existing is None:
            raise
        return Recorded(existing, False)
    _store_attachments(entry, msg.attachments)
    _apply_reply_lifecycle(conversation, entry)
    _publish_entry(entry, created_conversation=created)
    return Recorded(entry, True)


@transaction.atomic
def record_delivery(update: DeliveryUpdate) -> Entry | None:
    """Move an outbound entry's delivery status forward; None if it isn't ours."""
    entry = (
        Entry.objects.select_for_update(no_key=True)
        .filter(inbox_id=update.inbox_id, provider_id=update.provider_id, kind=Entry.Kind.OUTBOUND)
        .first()
    )
    if entry is None or not entry.delivery_moves_to(update.status):
        return entry
    entry.delivery_status = update.status
    fields = ["delivery_status"]
    if update.status == Entry.Delivery.FAILED:
        entry.delivery_error = update.error[:2000]
        fields.append("delivery_error")
    entry.save(update_fields=fields)
    if update.status == Entry.Delivery.FAILED:
        events.event_delivery_failed(entry.conversation, entry, entry.delivery_error)
    _publish_entry_update(entry)
    return entry


def _publish_entry_update(entry: Entry) -> None:
    realtime.publish_on_commit(
        realtime.conversation_group(entry.conversation_id),
        {"type": "entry.updated", "entry": entry_payload(entry)},
    )


# --- outbound ---------------------------------------------------------------------


def _apply_reply_lifecycle(conversation: Conversation, entry: Entry) -> None:
    at = entry.occurred_at
    fields = ["updated_at", "last_message_at"]
    conversation.last_message_at = max(filter(None, [conversation.last_message_at, at]))
    if not entry.is_auto:
        conversation.human_reply_count += 1
        fields.append("human_reply_count")
        if conversation.first_human_reply_at is None or at < conversation.first_human_reply_at:
            conversation.first_human_reply_at = at
            fields.append("first_human_reply_at")
        if conversation.waiting_since is not None:
            conversation.waiting_since = None
            fields.append("waiting_since")
    conversation.save(update_fields=fields)


def default_reply_channel(conversation: Conversation) -> str:
    """The channel of the last inbound message; the composer starts there."""
    return conversation.last_inbound_channel or conversation.first_channel or ""


def _reply_inbox_id(conversation: Conversation, channel: str) -> int | None:
    # The inbox through which this contact last reached us (or we reached them) on
    # that channel; it holds the credentials and the address the customer knows.
    last = (
        Entry.objects.filter(
            contact_id=conversation.contact_id,
            channel=channel,
            kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND),
            inbox__isnull=False,
        )
        .order_by("-occurred_at", "-id")
        .values_list("inbox_id", flat=True)
        .first()
    )
    return last if last is not None else conversation.inbox_id


@transaction.atomic
def reply(
    conversation: Conversation,
    author: Agent | None,
    body: str,
    *,
    via: str | None = None,
    inbox_id: int | None = None,
    is_auto: bool = False,
    subject: str = "",
    attachments: list[AttachmentRef] | None = None,
    parameters: dict[str, Any] | None = None,
) -> Entry:
    """Queue a public reply on a channel; a task sends it and records delivery."""
    body = body.strip()
    if not body and not attachments:
        raise ActionError(_("A reply needs text or an attachment."))
    channel = via or default_reply_channel(conversation)
    if not channel:
        raise ActionError(_("This conversation has no channel to reply on yet."))
    inbox_id = inbox_id or _reply_inbox_id(conversation, channel)
    if inbox_id is None:
        raise ActionError(
            _("There is no inbox to reach this contact by %(channel)s.") % {"channel": channel}
        )
    conversation = locks.lock_conversation(conversation.pk)
    now = timezone.now()
    default_channel = default_reply_channel(conversation)
    if via and default_channel and via != default_channel:
        switch = events.event_channel_switched(
            conversation, author, default_channel, via, by="agent", at=now
        )
        _publish_entry(switch)
    entry = Entry.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        kind=Entry.Kind.OUTBOUND,
        channel=channel,
        inbox_id=inbox_id,
        author=author,
        subject=subject[:300],
        body=body,
        delivery_status=Entry.Delivery.QUEUED,
        is_auto=is_auto,
        parameters=parameters or {},
        occurred_at=now,
    )
    _store_attachments(entry, attachments or [])
    _apply_reply_lifecycle(conversation, entry)
    _publish_entry(entry)
    enqueue_on_commit(SEND_OUTBOUND_TASK, entry.pk)
    return entry


def claim_for_sending(entry_id: int) -> Entry | None:
    """Take a queued reply for sending; None if another worker has it or it's gone.

    A conditional UPDATE, so the same send task running twice sends once.
    """
    claimed = Entry.objects.filter(pk=entry_id, delivery_status=Entry.Delivery.QUEUED).update(
        delivery_status=Entry.Delivery.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Entry.objects.select_related("inbox", "conversation", "contact", "author").get(
        pk=entry_id
    )


@transaction.atomic
def mark_delivery(
    entry_id: int, status: str, *, error: str = "", provider_id: str | None = None
) -> Entry | None:
    """Record what the send task learned: sent (with the provider id), queued again
    for a retry, or failed for good."""
    entry = Entry.objects.select_for_update(no_key=True).filter(pk=entry_id).first()
    if entry is None:
        return None
    fields = ["delivery_status", "delivery_error"]
    if provider_id and not entry.provider_id:
        entry.provider_id = provider_id[:255]
        fields.append("provider_id")
    if status == Entry.Delivery.QUEUED:
        # A retry: only from "sending", never backwards from a provider's callback.
        if entry.delivery_status != Entry.Delivery.SENDING:
            return entry
        entry.delivery_status = status
    elif entry.delivery_moves_to(status):
        entry.delivery_status = status
    entry.delivery_error = error[:2000]
    entry.save(update_fields=fields)
    if status == Entry.Delivery.FAILED:
        events.event_delivery_failed(entry.conversation, entry, error)
    _publish_entry_update(entry)
    return entry


@transaction.atomic
def retry_delivery(entry: Entry, actor: Agent | None) -> Entry:
    """The agent's retry button on a failed reply."""
    entry = locks.lock_entry(entry.pk)
    if entry.delivery_status != Entry.Delivery.FAILED:
        raise ActionError(_("Only a failed reply can be retried."))
    entry.delivery_status = Entry.Delivery.QUEUED
    entry.delivery_error = ""
    entry.attempts = 0
    entry.save(update_fields=["delivery_status", "delivery_error", "attempts"])
    _publish_entry_update(entry)
    enqueue_on_commit(SEND_OUTBOUND_TASK, entry.pk)
    return entry


# --- agent actions -----------------------------------------------------------------


@transaction.atomic
def add_note(conversation: Conversation, author: Agent, body: str) -> Entry:
    body = body.strip()
    if not body:
        raise ActionError(_("A note needs text."))
    entry = Entry.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        kind=Entry.Kind.NOTE,
        author=author,
        body=body,
    )
    _publish_entry(entry)
    return entry


@transaction.atomic
def assign(
    conversation: Conversation,
    actor: Agent | None,
    *,
    assignee: Agent | None = None,
    team: Team | None = None,
    keep_team: bool = True,
) -> Conversation:
    conversation = locks.lock_conversation(conversation.pk)
    if assignee is not None and not assignee.is_active:
        raise ActionError(_("%(agent)s is not active.") % {"agent": assignee})
    conversation.assignee = assignee
    if team is not None or not keep_team:
        conversation.team = team
    conversation.save(update_fields=["assignee", "team", "updated_at"])
    entry = events.event_assigned(
        conversation, actor, assignee, conversation.team.name if conversation.team else None
    )
    _publish_entry(entry)
    signals.send_on_commit(
        signals.conversation_changed,
        conversation_id=conversation.pk,
        change="assigned",
        old=None,
        new=assignee.pk if assignee else None,
    )
    if assignee is not None:
        # One bell entry (and one live push) whoever assigns: inbox, API or a rule.
        from conversations.models import Notification

        text = (
            _("%(agent)s assigned you #%(n)d") % {"agent": actor.display_name, "n": conversation.pk}
            if actor is not None
            else _("You were assigned #%(n)d") % {"n": conversation.pk}
        )
        notify(
            [assignee],
            Notification.Kind.ASSIGNED,
            conversation=conversation,
            actor=actor,
            text=text,
        )
    return conversation


@transaction.atomic
def set_status(
    conversation: Conversation,
    actor: Agent | None,
    status: str,
    *,
    snoozed_until: datetime | None = None,
    at: datetime | None = None,
) -> Conversation:
    """Open, pending, snooze (until a time) or resolve a conversation."""
    if status not in Conversation.Status.values:
        raise ActionError(_("Unknown status %(status)s.") % {"status": status})
    conversation = locks.lock_conversation(conversation.pk)
    old = conversation.status
    at = at or timezone.now()
    if status == Conversation.Status.SNOOZED:
        if snoozed_until is None or snoozed_until <= at:
            raise ActionError(_("Snooze needs a time in the future."))
    if old == status and status != Conversation.Status.SNOOZED:
        return conversation
    conversation.status = status
    conversation.snoozed_until = snoozed_until if status == Conversation.Status.SNOOZED else None
    fields = ["status", "snoozed_until", "updated_at"]
    if status == Conversation.Status.RESOLVED:
        conversation.resolved_at = at
        conversation.waiting_since = None
        fields += ["resolved_at", "waiting_since"]
    if old == Conversation.Status.RESOLVED:
        conversation.reopened_count += 1
        fields.append("reopened_count")
    conversation.save(update_fields=fields)
    extra = {"until": snoozed_until.isoformat()} if snoozed_until else {}
    entry = events.event_status_changed(conversation, actor, old, status, at, **extra)
    _publish_entry(entry)
    signals.send_on_commit(
        signals.conversation_changed,
        conversation_id=conversation.pk,
        change="status",
        old=old,
        new=status,
    )
    return conversation


@transaction.atomic
def set_priority(conversation: Conversation, actor: Agent | None, priority: str) -> Conversation:
    if priority not in Conversation.Priority.values:
        raise ActionError(_("Unknown priority %(priority)s.") % {"priority": priority})
    conversation = locks.lock_conversation(conversation.pk)
    old = conversation.priority
    if old == priority:
        return conversation
    conversation.priority = priority
    conversation.save(update_fields=["priority", "updated_at"])
    _publish_entry(events.event_priority_changed(conversation, actor, old, priority))
    signals.send_on_commit(
        signals.conversation_changed,
        conversation_id=conversation.pk,
        change="priority",
        old=old,
        new=priority,
    )
    return conversation


@transaction.atomic
def set_labels(conversation: Conversation, actor: Agent | None, names: list[str]) -> Conversation:
    conversation = locks.lock_conversation(conversation.pk)
    wanted = {n.strip()[:64] for n in names if n.strip()}
    current = set(conversation.labels.values_list("name", flat=True))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if not added and not removed:
        return conversation
    labels = [Label.objects.get_or_create(name=name)[0] for name in added]
    conversation.labels.add(*labels)
    conversation.labels.remove(*Label.objects.filter(name__in=removed))
    conversation.save(update_fields=["updated_at"])
    _publish_entry(events.event_labels_changed(conversation, actor, added, removed))
    signals.send_on_commit(
        signals.conversation_changed,
        conversation_id=conversation.pk,
        change="labels",
        old=removed,
        new=added,
    )
    return conversation


def wake_snoozed(now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come; safe to run in parallel."""
    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(
            status=Conversation.Status.SNOOZED, snoozed_until__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    woken = 0
    for conversation_id in due:
        with transaction.atomic():
            conversation = locks.lock_conversation(conversation_id)
            if conversation.status != Conversation.Status.SNOOZED:
                continue  # another worker got it first
            set_status(conversation, None, Conversation.Status.OPEN, at=now)
            woken += 1
    return woken


# --- agent inbox: identities and notifications --------------------------------------


@transaction.atomic
def remove_identity(identity: Identity, actor: Agent | None) -> None:
    """Detach an address from its contact; the contact keeps at least one."""
    contact = locks.lock_contact(identity.contact_id)
    if Identity.objects.filter(contact=contact).count() <= 1:
        raise ActionError(_("A contact keeps at least one identity."))
    Identity.objects.filter(pk=identity.pk).delete()


@transaction.atomic
def set_identity_verified(identity: Identity, actor: Agent | None, verified: bool) -> Identity:
    identity.verified = verified
    identity.save(update_fields=["verified"])
    return identity


def notify(
    agents: list[Agent],
    kind: str,
    *,
    conversation: Conversation | None = None,
    actor: Agent | None = None,
    text: str = "",
) -> int:
    """Ring the in-app bell of these agents (never the actor's own)."""
    from conversations.models import Notification

    targets = [a for a in agents if a.is_active and (actor is None or a.pk != actor.pk)]
    Notification.objects.bulk_create(
        [
            Notification(
                agent=agent, kind=kind, conversation=conversation, actor=actor, text=text[:300]
            )
            for agent in targets
        ]
    )
    for agent in targets:
        realtime.publish_on_commit(
            realtime.agent_group(agent.pk),
            {
                "type": "notification",
                "kind": kind,
                "conversation": conversation.pk if conversation else None,
                "text": text[:300],
            },
        )
    return len(targets)


@transaction.atomic
def add_note_with_mentions(conversation: Conversation, author: Agent, body: str) -> Entry:
    """A private note; every active agent @mentioned in it is notified."""
    from conversations.mentions import mentioned_agents

    entry = add_note(conversation, author, body)
    mentioned = mentioned_agents(body)
    if mentioned:
        entry.parameters = {**entry.parameters, "mentions": [a.pk for a in mentioned]}
        entry.save(update_fields=["parameters"])
        notify(
            mentioned,
            "mention",
            conversation=conversation,
            actor=author,
            text=_("%(agent)s mentioned you: %(body)s")
            % {"agent": author.display_name, "body": body[:200]},
        )
    return entry


def mark_notifications_read(agent: Agent) -> int:
    from conversations.models import Notification

    return Notification.objects.filter(agent=agent, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- calls -------------------------------------------------------------------------
# A call is ONE timeline entry (channel "phone", provider_id = the provider's call id)
# whose `parameters` fill in as the provider's callbacks arrive, in any order: status,
# answered_by, duration, recording_url, transcript, missed. Its moments (started,
# answered, missed, ended) are event entries written once each.

CALL_STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "canceled": 4,
    "failed": 4,
}
CALL_TERMINAL_STATUSES = frozenset(s for s, rank in CALL_STATUS_RANK.items() if rank == 4)


def _find_call(update: CallUpdate) -> tuple[int, int] | None:
    calls = Entry.objects.filter(inbox_id=update.inbox_id, channel="phone")
    found = calls.filter(provider_id=update.call_sid).values_list("pk", "conversation_id").first()
    if found is None and update.entry_public_id is not None:
        found = (
            calls.filter(public_id=update.entry_public_id)
            .values_list("pk", "conversation_id")
            .first()
        )
    return found


def _merge_call(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    changes = dict(changes)
    status = changes.pop("status", None)
    if status and CALL_STATUS_RANK.get(status, -1) > CALL_STATUS_RANK.get(
        str(old.get("status", "")), -1
    ):
        merged["status"] = status
    for key, value in changes.items():
        if value in (None, ""):
            continue
        if key in ("answered", "unanswered", "voicemail") and not value:
            continue  # these only ever become true
        merged[key] = value
    answered = bool(merged.get("answered") or merged.get("answered_by"))
    ended = merged.get("status") in CALL_TERMINAL_STATUSES or bool(merged.get("unanswered"))
    merged["answered"] = answered
    merged["missed"] = (
        merged.get("direction", "inbound") == "inbound"
        and not answered
        and (ended or bool(merged.get("voicemail")))
    )
    return merged


@transaction.atomic
def update_call(update: CallUpdate) -> Entry | None:
    """Merge what a callback says into the call's one entry; None if the call is unknown.

    Creates the call (an inbound entry, through record_inbound) when the update names
    the caller. Locks conversation, then entry (locks.py order), so callbacks racing
    for the same call merge one after the other and each moment is written once.
    """
    found = _find_call(update)
    if found is None:
        if not update.identities:
            return None
        recorded = record_inbound(
            InboundMessage(
                inbox_id=update.inbox_id,
                channel="phone",
                identities=update.identities,
                team_id=update.team_id,
                provider_id=update.call_sid,
                contact_name=update.contact_name,
                occurred_at=update.occurred_at,
                parameters={"direction": "inbound", "status": "ringing"},
            )
        )
        if recorded.created:
            _publish_entry(
                events.event_call_started(
                    recorded.entry.conversation, recorded.entry, recorded.entry.occurred_at
                )
            )
        found = (recorded.entry.pk, recorded.entry.conversation_id)
    entry_id, conversation_id = found
    conversation = locks.lock_conversation(conversation_id)
    call = locks.lock_entry(entry_id)
    old = dict(call.parameters)
    merged = _merge_call(old, update.changes)
    fields = []
    if merged != old:
        call.parameters = merged
        fields.append("parameters")
    if update.call_sid and not call.provider_id:
        call.provider_id = update.call_sid[:255]
        fields.append("provider_id")
    transcript = str(merged.get("transcript") or "")
    if transcript and call.body != transcript:
        call.body = transcript
        fields.append("body")
    if not fields:
        return call
    call.save(update_fields=fields)
    at = update.occurred_at or timezone.now()
    conversation_fields: list[str] = []
    if merged["answered"] and not old.get("answered"):
        who = str(merged.get("answered_by") or "")
        _publish_entry(events.event_call_answered(conversation, call, who, at))
        if merged.get("direction", "inbound") == "inbound" and conversation.waiting_since:
            conversation.waiting_since = None  # an agent is talking to the customer
            conversation_fields.append("waiting_since")
    if merged["missed"] and not old.get("missed"):
        _publish_entry(
            events.event_call_missed(conversation, call, bool(merged.get("voicemail")), at)
        )
        if conversation.waiting_since is None:
            # A missed call is a customer waiting for a call back.
            conversation.waiting_since = call.occurred_at
            conversation_fields.append("waiting_since")
    status = str(merged.get("status", ""))
    if status in CALL_TERMINAL_STATUSES and old.get("status") not in CALL_TERMINAL_STATUSES:
        duration = merged.get("duration")
        _publish_entry(
            events.event_call_ended(
                conversation, call, status, int(duration) if duration is not None else None, at
            )
        )
    if conversation_fields:
        conversation.save(update_fields=[*conversation_fields, "updated_at"])
    _publish_entry_update(call)
    return call


@transaction.atomic
def record_outbound_call(
    conversation: Conversation,
    agent: Agent,
    inbox_id: int,
    parameters: dict[str, Any],
) -> Entry:
    """The entry of a call we place (click to call, call back), before the provider has it.

    It counts as the agent's answer: the customer stops waiting.
    """
    conversation = locks.lock_conversation(conversation.pk)
    entry = Entry.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        kind=Entry.Kind.OUTBOUND,
        channel="phone",
        inbox_id=inbox_id,
        author=agent,
        parameters={"status": "queued", **parameters, "direction": "outbound"},
        occurred_at=timezone.now(),
    )
    _apply_reply_lifecycle(conversation, entry)
    _publish_entry(entry)
    _publish_entry(events.event_call_started(conversation, entry, entry.occurred_at))
    return entry


@transaction.atomic
def request_callback(
    conversation: Conversation, actor: Agent | None, number: str, source: str
) -> Entry:
    """The customer asked to be called back: on the timeline, and waiting for us."""
    conversation = locks.lock_conversation(conversation.pk)
    now = timezone.now()
    entry = events.event_callback_requested(conversation, actor, number, source, now)
    if conversation.waiting_since is None:
        conversation.waiting_since = now
        conversation.save(update_fields=["waiting_since", "updated_at"])
    _publish_entry(entry)
    return entry


@transaction.atomic
def attach_file(attachment_id: int, content: bytes, content_type: str = "") -> Attachment | None:
    """Fill a fetched file into an attachment recorded with only its provider URL.

    Idempotent: an attachment that has its file already is left alone. Raises
    ActionError when the file breaks the size or type limits.
    """
    attachment = (
        Attachment.objects.select_for_update(no_key=True)
        .select_related("entry")
        .filter(pk=attachment_id)
        .first()
    )
    if attachment is None or attachment.file:
        return attachment
    if content_type:
        attachment.content_type = content_type[:100]
    check_attachment(attachment.filename, attachment.content_type, len(content))
    attachment.size = len(content)
    attachment.file.save(attachment.filename, ContentFile(content), save=False)
    attachment.save(update_fields=["file", "size", "content_type"])
    _publish_entry_update(attachment.entry)
    return attachment


# --- live chat: typing and "seen" (ephemeral, never stored) --------------------------


def publish_typing(conversation: Conversation, agent: Agent, typing: bool) -> None:
    """An agent is (or stopped) typing: the visitor's widget and the other agents see it."""
    payload = {
        "type": "typing",
        "conversation": conversation.pk,
        "who": "agent",
        "typing": bool(typing),
        "name": agent.display_name,
    }
    realtime.publish_now(realtime.conversation_group(conversation.pk), payload)
    realtime.publish_now(realtime.visitor_group(conversation.contact_id), payload)


def publish_seen_by_agent(conversation: Conversation, agent: Agent) -> None:
    """An agent read the customer's messages: the widget shows "Seen"."""
    realtime.publish_now(
        realtime.visitor_group(conversation.contact_id),
        {"type": "seen", "conversation": conversation.pk, "name": agent.display_name},
    )
