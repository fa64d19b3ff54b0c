"""Extension points, sent only after the action's transaction has committed.

The core flow never depends on them; other apps (outbound webhooks, KPI refresh,
surveys) listen. Receivers get ids, never model instances, and must be quick:
enqueue a task rather than doing the work inline.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

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


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs))
