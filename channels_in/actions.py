"""State changes of the channels app: storing raw events, processing them, sending."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from channels_in.base import (
    CallUpdate,
    ChannelError,
    DeliveryUpdate,
    InboundMessage,
    ParsedItem,
)
from channels_in.models import InboundEvent, Inbox
from channels_in.registry import adapter_for
from conversations import actions as core
from conversations import signals
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

    After commit a drain is requested (one for a burst of events); if the broker is
    down the event waits as `received` and the sweep (sweep_inbound) picks it up.
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
            transaction.on_commit(_drain_after_commit, robust=True)
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


def _run(event: InboundEvent, items: list[ParsedItem] | None = None) -> Outcome:
    """Parse one locked event (unless `items` are given) and record what it says.

    In a savepoint of its own. Sets the event's status, error, attempts,
    processed_at and contact; the caller saves them. A failure leaves the event
    `failed` with the reason, replayable.
    """
    event.attempts += 1
    try:
        with transaction.atomic():
            if items is None:
                items = adapter_for(event.inbox).parse(event)
            contact_ids = [_record(item, event.inbox) for item in items]
    except ChannelError as exc:
        outcome = Outcome(InboundEvent.Status.FAILED, retry=not exc.permanent, error=exc.message)
    except IntegrityError as exc:
        # A race with another writer (the same provider id stored at once): a retry
        # finds what it wrote.
        outcome = Outcome(InboundEvent.Status.FAILED, retry=True, error=f"IntegrityError: {exc}")
    except Exception as exc:  # noqa: BLE001 - any bug still leaves the raw event, failed
        log.exception("processing inbound event %s failed", event.pk)
        outcome = Outcome(InboundEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        outcome = Outcome(InboundEvent.Status.PROCESSED if items else InboundEvent.Status.IGNORED)
        event.contact_id = next((c for c in contact_ids if c is not None), None)
    _finish(event, outcome)
    return outcome


def _finish(event: InboundEvent, outcome: Outcome) -> None:
    event.status = outcome.status
    event.error = outcome.error[:5000]
    event.processed_at = timezone.now()
    outcome.retry = outcome.retry and event.attempts < settings.INBOUND_MAX_ATTEMPTS


def _parse_all(events: list[InboundEvent]) -> dict[int, list[ParsedItem] | Outcome]:
    """Each event's items, or the failed outcome of parsing it."""
    parsed: dict[int, list[ParsedItem] | Outcome] = {}
    for event in events:
        try:
            parsed[event.pk] = adapter_for(event.inbox).parse(event)
        except ChannelError as exc:
            parsed[event.pk] = Outcome(
                InboundEvent.Status.FAILED, retry=not exc.permanent, error=exc.message
            )
        except Exception as exc:  # noqa: BLE001 - any bug still leaves the raw event, failed
            log.exception("parsing inbound event %s failed", event.pk)
            parsed[event.pk] = Outcome(
                InboundEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
    return parsed


_RESULT_FIELDS = ["status", "error", "attempts", "processed_at", "contact"]


def process_event(event_id: int) -> Outcome | None:
    """Process one stored event (retries, replays, the sweep); safe to run twice at once.

    The event row is locked for the whole run, so a second worker waits and then
    finds it processed.
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
        outcome = _run(event)
        event.save(update_fields=_RESULT_FIELDS)
    return outcome


# --- draining: many events per transaction ----------------------------------------

DRAIN_TASK = "channels_in.drain_inbound"
DRAIN_REQUESTED_KEY = "channels_in:drain-requested"
# An arbitrary constant naming the one advisory lock the drainer holds on PostgreSQL.
_DRAIN_LOCK = 0x68645F696E62  # "hd_inb"


def request_drain() -> None:
    """Ask a worker to drain received events; a burst of events asks once.

    The flag is cleared by the drain task before it looks for events, so an event
    stored after that look asks again and is never stranded.
    """
    if cache.add(DRAIN_REQUESTED_KEY, 1, timeout=settings.INBOUND_DRAIN_FLAG_SECONDS):
        try:
            enqueue(DRAIN_TASK)
        except Exception:
            cache.delete(DRAIN_REQUESTED_KEY)
            raise


def _drain_after_commit() -> None:
    # A bulk import storing many events in one transaction asks once, at its end.
    signals.coalesce(_request_drain_for, None)


def _request_drain_for(*_events: Any) -> None:
    request_drain()


def process_batch(limit: int | None = None) -> int | None:
    """Process up to `limit` received events, oldest first, in one transaction.

    Each event has its own savepoint, so one bad event fails alone; the commit, the
    KPI marks, media lookups and realtime publishes are shared by the batch (see
    conversations.signals.batch). On PostgreSQL one drainer runs at a time (an
    advisory lock: two would lock the same contacts in different orders); None
    means another holds it. Retryable failures get a per-event retry with backoff.
    """
    limit = limit or settings.INBOUND_BATCH_SIZE
    postgres = connection.vendor == "postgresql"
    with signals.batch(), transaction.atomic():
        if postgres and not _drain_lock(wait=False):
            return None
        query = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED)
        if postgres:
            query = query.select_for_update(skip_locked=True, no_key=True, of=("self",))
        events = list(query.select_related("inbox").order_by("pk")[:limit])
        _process_events(events)
    return len(events)


def process_stored(event_ids: list[int]) -> dict[int, str]:
    """Process these events now, as one batch, in the caller's transaction if any.

    For bulk imports (ingest_email) that store a batch and record it at once. Waits
    for the drainer's lock on PostgreSQL. Returns each event's status.
    """
    with signals.batch(), transaction.atomic():
        if connection.vendor == "postgresql":
            _drain_lock(wait=True)
        events = list(
            InboundEvent.objects.select_for_update(no_key=True, of=("self",))
            .select_related("inbox")
            .filter(pk__in=event_ids)
            .exclude(status__in=(InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED))
            .order_by("pk")
        )
        _process_events(events)
    statuses = {e.pk: e.status for e in events}
    if len(statuses) < len(event_ids):
        statuses.update(
            InboundEvent.objects.filter(pk__in=set(event_ids) - set(statuses)).values_list(
                "pk", "status"
            )
        )
    return statuses


def _drain_lock(*, wait: bool) -> bool:
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DRAIN_LOCK])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_DRAIN_LOCK])
        row = cursor.fetchone()
        return bool(row and row[0])


def _process_events(events: list[InboundEvent]) -> None:
    """Record locked events sharing the lookups (see process_batch).

    First all in one savepoint: two round trips for the batch instead of two per
    event. If anything fails, that savepoint rolls back and every event is recorded
    again in a savepoint of its own, so the bad one fails alone.
    """
    parsed = _parse_all(events)
    messages = [
        item
        for items in parsed.values()
        if isinstance(items, list)
        for item in items
        if isinstance(item, InboundMessage)
    ]
    if not _all_at_once(events, parsed, messages):
        _one_by_one(events, parsed, messages)
    _save_results(events)


def _all_at_once(
    events: list[InboundEvent],
    parsed: dict[int, list[ParsedItem] | Outcome],
    messages: list[InboundMessage],
) -> bool:
    """Record every event in one savepoint; False (nothing kept) if any of them fails."""
    lists: dict[int, list[ParsedItem]] = {}
    for pk, items in parsed.items():
        if isinstance(items, Outcome):
            return False  # a parse failure: the careful path records and reports it
        lists[pk] = items
    contacts: dict[int, int | None] = {}
    try:
        with transaction.atomic(), core.inbound_batch(messages):
            for event in events:
                ids = [_record(item, event.inbox) for item in lists[event.pk]]
                contacts[event.pk] = next((c for c in ids if c is not None), None)
    except Exception:  # noqa: BLE001 - rolled back; _one_by_one finds and reports it
        return False
    for event in events:
        items = lists[event.pk]
        event.attempts += 1
        event.contact_id = contacts[event.pk]
        _finish(
            event,
            Outcome(InboundEvent.Status.PROCESSED if items else InboundEvent.Status.IGNORED),
        )
    return True


def _one_by_one(
    events: list[InboundEvent],
    parsed: dict[int, list[ParsedItem] | Outcome],
    messages: list[InboundMessage],
) -> None:
    """Record each event in a savepoint of its own (see _run)."""
    with core.inbound_batch(messages):
        for event in events:
            items = parsed[event.pk]
            if isinstance(items, Outcome):
                event.attempts += 1
                outcome = items
                _finish(event, outcome)
            else:
                outcome = _run(event, items)
            if outcome.status == InboundEvent.Status.FAILED:
                core.forget_inbound_batch()  # its savepoint rolled back
            if outcome.retry:
                enqueue_on_commit(
                    PROCESS_INBOUND_TASK, event.pk, countdown=retry_delay(event.attempts)
                )


def _save_results(events: list[InboundEvent]) -> None:
    """One statement for the batch (Django's bulk_update builds a slow CASE per field)."""
    table = InboundEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET status = %s, error = %s, attempts = %s, "  # noqa: S608
            "processed_at = %s, contact_id = %s WHERE id = %s",
            [
                (
                    e.status,
                    e.error,
                    e.attempts,
                    connection.ops.adapt_datetimefield_value(e.processed_at),
                    e.contact_id,
                    e.pk,
                )
                for e in events
            ],
        )


def retry_delay(attempts: int) -> int:
    return min(600, 5 * 2 ** max(0, attempts - 1))  # 5 s, 10 s, 20 s ... capped at 10 min


def drain(max_seconds: float | None = None) -> int:
    """Process received events in batches until none is left or time is up.

    Returns how many were processed. When time runs out, or another drainer holds
    the lock, a new drain is requested so the work goes on without this worker.
    """
    budget = settings.INBOUND_DRAIN_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + budget
    done = 0
    while True:
        count = process_batch()
        if count is None:
            # Another drainer is at work; look again shortly in case it just ended.
            enqueue(DRAIN_TASK, countdown=1)
            return done
        done += count
        if count == 0:
            return done
        if time.monotonic() > deadline:
            cache.delete(DRAIN_REQUESTED_KEY)
            request_drain()
            return done


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
