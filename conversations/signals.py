"""Extension points, sent only after the action's transaction has committed.

The core flow never depends on them; other apps (outbound webhooks, KPI refresh,
surveys) listen. Receivers get ids, never model instances, and must be quick:
enqueue a task rather than doing the work inline.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# entry_id, conversation_id, kind ("inbound", "outbound", "note", "event"), event
entry_created = Signal()
# conversation_id
conversation_created = Signal()
# conversation_id, change ("status", "assigned", "priority", "labels"), old, new
conversation_changed = Signal()
# contact_id
contact_created = Signal()
# source_id, target_id
contacts_merged = Signal()
# conversation_id, entry_id, survey ("csat" | "nps"), score (sent by the kpi app)
survey_answered = Signal()

# Sent synchronously, inside the inbound transaction, when a customer message would
# reopen a resolved conversation: conversation_id, channel, body. A receiver returns
# True to keep it resolved (the message is recorded on it all the same), e.g. the kpi
# app for "4" answering its "reply 1-5" survey. Receivers only read.
keeps_resolved = Signal()


class Batch:
    """What a batch of writes (many inbound messages in one transaction) defers.

    After-commit sends are kept in order and sent when the batch ends, and work a
    receiver hands to `coalesce` runs once for the whole batch with every item, so
    a hundred messages cost one KPI INSERT, not a hundred.
    """

    def __init__(self) -> None:
        self.sends: list[tuple[Signal, dict[str, Any]]] = []
        self.coalesced: dict[Callable[..., None], list[Any]] = {}

    def flush(self) -> None:
        # Receivers may send or coalesce more while this runs: drain until quiet.
        sent = 0
        while sent < len(self.sends):
            signal, kwargs = self.sends[sent]
            sent += 1
            signal.send_robust(sender=None, **kwargs)
        while self.coalesced:
            # Oldest first: live events (registered with the first message) go out
            # before the KPI, media and survey lookups.
            func = next(iter(self.coalesced))
            items = self.coalesced.pop(func)
            try:
                func(*items)
            except Exception:  # noqa: BLE001 - like send_robust: the writes are committed
                log.exception("coalesced %s failed", getattr(func, "__name__", func))


_local = threading.local()


def current_batch() -> Batch | None:
    return getattr(_local, "batch", None)


@contextlib.contextmanager
def batch() -> Iterator[Batch]:
    """Defer after-commit work of everything inside to the end of the block.

    Wrap it around the transaction: what a rolled-back transaction (or savepoint)
    registered is discarded by Django before it reaches the batch. Nested blocks
    join the outermost one.
    """
    outer = current_batch()
    if outer is not None:
        yield outer
        return
    current = _local.batch = Batch()
    try:
        yield current
    finally:
        # Also after an error: what committed before it reached the batch is due.
        try:
            current.flush()
        finally:
            _local.batch = None


def coalesce(func: Callable[..., None], *items: Any) -> None:
    """Call func(*items) now, or once at the end of the current batch with all items."""
    current = current_batch()
    if current is None:
        func(*items)
    else:
        current.coalesced.setdefault(func, []).extend(items)


def _send_or_keep(signal: Signal, kwargs: dict[str, Any]) -> None:
    current = current_batch()
    if current is None:
        signal.send_robust(sender=None, **kwargs)
    else:
        current.sends.append((signal, kwargs))


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    transaction.on_commit(lambda: _send_or_keep(signal, kwargs))
