"""State changes of the channels app: storing raw events, processing them, sending."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from channels_in.base import CallUpdate, ChannelError, DeliveryUpdate, ParsedItem
from channels_in.models import InboundEvent, Inbox
from channels_in.registry import adapter_for
from conversations import actions as core
from conversations.models import Entry
from helpdesk.queue import enqueue, enqueue_on_commit

log = logging.getLogger(__name__)

PROCESS_INBOUND_TASK = "channels_in.process_inbound"
# Headers that carry credentials of ours, never worth keeping with the raw event.
_DROPPED_HEADERS = {"HTTP_COOKIE", "HTTP_AUTHORIZATION"}


def request_headers(request: HttpRequest) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in request.META.items()
        if key.startswith("HTTP_") and key not in _DROPPED_HEADERS
    }
    if request.content_type:
        headers["Content-Type"] = request.content_type
    return headers


def store_event(
    inbox: Inbox, provider_event_id: str, topic: str, body: bytes, headers: dict[str, str]
) -> tuple[InboundEvent, bool]:
    """Keep the raw delivery before we acknowledge it; a repeat returns the first one.

    Processing is enqueued after commit; if the broker is down the event waits as
    `received` and the sweep (sweep_inbound) picks it up.
    """
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                inbox=inbox,
                provider_event_id=provider_event_id[:255],
                topic=topic,
                body=body,
                headers=headers,
            )
            enqueue_on_commit(PROCESS_INBOUND_TASK, event.pk)
    except IntegrityError:
        existing = InboundEvent.objects.get(inbox=inbox, provider_event_id=provider_event_id[:255])
        return existing, False
    return event, True


@dataclass
class Outcome:
    status: str
    retry: bool = False
    error: str = ""


def _record(item: ParsedItem, inbox: Inbox) -> int | None:
    if isinstance(item, DeliveryUpdate):
        entry = core.record_delivery(item)
        return entry.contact_id if entry else None
    if isinstance(item, CallUpdate):
        if item.team_id is None:
            item.team_id = inbox.team_id
        call = core.update_call(item)
        return call.contact_id if call else None
    if item.team_id is None:
        item.team_id = inbox.team_id
    return core.record_inbound(item).entry.contact_id


def process_event(event_id: int) -> Outcome | None:
    """Parse a stored event and record what it says; safe to run twice at once.

    The event row is locked for the whole run, so a second worker waits and then
    finds it processed. A failure leaves it `failed` with the reason, replayable.
    """
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update(no_key=True)
            .select_related("inbox")
            .filter(pk=event_id)
            .first()
        )
        if event is None or event.status in (
            InboundEvent.Status.PROCESSED,
            InboundEvent.Status.IGNORED,
        ):
            return None
        event.attempts += 1
        try:
            with transaction.atomic():
                items = adapter_for(event.inbox).parse(event)
                contact_ids = [_record(item, event.inbox) for item in items]
        except ChannelError as exc:
            outcome = Outcome(
                InboundEvent.Status.FAILED, retry=not exc.permanent, error=exc.message
            )
        except Exception as exc:  # noqa: BLE001 - any bug still leaves the raw event, failed
            log.exception("processing inbound event %s failed", event_id)
            outcome = Outcome(InboundEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        else:
            outcome = Outcome(
                InboundEvent.Status.PROCESSED if items else InboundEvent.Status.IGNORED
            )
            event.contact_id = next((c for c in contact_ids if c is not None), None)
        event.status = outcome.status
        event.error = outcome.error[:5000]
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at", "contact"])
    outcome.retry = outcome.retry and event.attempts < settings.INBOUND_MAX_ATTEMPTS
    return outcome


def replay(event: InboundEvent) -> Outcome | None:
    """Process a failed (or stuck) event again, now, in this process."""
    InboundEvent.objects.filter(pk=event.pk).exclude(status=InboundEvent.Status.PROCESSED).update(
        status=InboundEvent.Status.RECEIVED, error=""
    )
    return process_event(event.pk)


def sweep_inbound(older_than: timedelta = timedelta(minutes=2)) -> int:
    """Re-enqueue events stored but never processed (broker was down, worker died)."""
    cutoff = timezone.now() - older_than
    ids = list(
        InboundEvent.objects.filter(
            status=InboundEvent.Status.RECEIVED, received_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for event_id in ids:
        enqueue(PROCESS_INBOUND_TASK, event_id)
    return len(ids)


def deliver(entry_id: int) -> Outcome | None:
    """Send one queued reply through its inbox's adapter; None if not ours to send."""
    entry = core.claim_for_sending(entry_id)
    if entry is None:
        return None
    if entry.inbox is None:
        core.mark_delivery(entry_id, Entry.Delivery.FAILED, error="the inbox was removed")
        return Outcome(Entry.Delivery.FAILED, error="the inbox was removed")
    try:
        provider_id = adapter_for(entry.inbox).send(entry)
    except ChannelError as exc:
        if exc.permanent or entry.attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
            core.mark_delivery(entry_id, Entry.Delivery.FAILED, error=exc.message)
            return Outcome(Entry.Delivery.FAILED, error=exc.message)
        core.mark_delivery(entry_id, Entry.Delivery.QUEUED, error=exc.message)
        return Outcome(Entry.Delivery.QUEUED, retry=True, error=exc.message)
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not strand the reply
        log.exception("sending entry %s failed", entry_id)
        error = f"{type(exc).__name__}: {exc}"
        core.mark_delivery(entry_id, Entry.Delivery.FAILED, error=error)
        return Outcome(Entry.Delivery.FAILED, error=error)
    core.mark_delivery(entry_id, Entry.Delivery.SENT, provider_id=provider_id)
    return Outcome(Entry.Delivery.SENT)


def fail_stale_sends(older_than: timedelta = timedelta(minutes=15)) -> int:
    """A reply stuck in `sending` (worker died mid-call) is failed, not resent blindly:
    the provider may have sent it, and a duplicate is worse than a retry button."""
    cutoff = timezone.now() - older_than
    ids = list(
        Entry.objects.filter(
            delivery_status=Entry.Delivery.SENDING, occurred_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for entry_id in ids:
        core.mark_delivery(
            entry_id,
            Entry.Delivery.FAILED,
            error="the sending worker stopped; it may or may not have been delivered",
        )
    return len(ids)


# --- inboxes ------------------------------------------------------------------------


def create_inbox(
    kind: str,
    slug: str,
    *,
    name: str = "",
    team_id: int | None = None,
    values: dict[str, Any] | None = None,
) -> Inbox:
    """Create an inbox; secret keys are encrypted, unknown keys refused."""
    from channels_in.registry import adapter_class

    cls = adapter_class(kind)
    values = values or {}
    unknown = set(values) - set(cls.config_keys) - set(cls.secret_keys)
    if unknown:
        allowed = ", ".join(sorted(set(cls.config_keys) | set(cls.secret_keys)))
        raise ValueError(
            f"unknown key(s) for {kind}: {', '.join(sorted(unknown))} (allowed: {allowed})"
        )
    with transaction.atomic():
        if Inbox.objects.filter(slug=slug).exists():
            raise ValueError(f"an inbox with slug {slug!r} exists already")
        inbox = Inbox(kind=kind, slug=slug, name=name or slug, team_id=team_id)
        for key, value in values.items():
            if key in cls.secret_keys:
                inbox.set_secret(key, value)
            else:
                inbox.config[key] = value
        inbox.full_clean(exclude=["secrets", "config"])
        inbox.save()
    return inbox


def remove_inbox(inbox: Inbox) -> None:
    """Deactivate: history keeps pointing at it, webhooks stop being accepted."""
    inbox.is_active = False
    inbox.slug = f"{inbox.slug}--removed-{inbox.pk}"[:64]
    inbox.save(update_fields=["is_active", "slug"])


# --- e-mail -------------------------------------------------------------------------


def update_inbox_config(inbox_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Merge `values` into an inbox's config (e.g. IMAP UIDVALIDITY and last UID)."""
    with transaction.atomic():
        inbox = Inbox.objects.select_for_update(no_key=True).get(pk=inbox_id)
        inbox.config = {**inbox.config, **values}
        inbox.save(update_fields=["config"])
    return inbox.config


def set_entry_parameters(entry_id: int, values: dict[str, Any]) -> None:
    """Merge provider details learned after sending (an ESP's message id) into an entry."""
    with transaction.atomic():
        entry = Entry.objects.select_for_update(no_key=True).get(pk=entry_id)
        entry.parameters = {**entry.parameters, **values}
        entry.save(update_fields=["parameters"])
