"""anymail signal receivers: store the raw mail (or tracking event) and nothing more.

If a receiver raises, anymail answers an error and the ESP retries, so these stay
tiny: find the inbox, store raw, enqueue (store_event does it on commit).
"""

from __future__ import annotations

import hashlib
import json
import logging
from email import policy
from typing import Any

from anymail.signals import inbound, tracking
from django.db.models import Q
from django.dispatch import receiver

from channels_in import actions
from channels_in.email.ingest import store_raw
from channels_in.email.tokens import base_address
from channels_in.models import Inbox
from conversations.models import Channel, Entry

log = logging.getLogger(__name__)

TOPIC_TRACKING = "tracking"


class NoInboxForMail(LookupError):
    """No email inbox takes mail for these recipients."""


def inbox_for(esp_name: str, recipients: list[str]) -> Inbox:
    """The email inbox whose address is among the recipients (plus-tags ignored);
    failing that, the only inbox configured for this ESP."""
    inboxes = list(Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True))
    wanted = {base_address(r) for r in recipients if "@" in r}
    for inbox in inboxes:
        if base_address(str(inbox.setting("address") or "")) in wanted:
            return inbox
    esp = esp_name.lower()
    for_esp = [i for i in inboxes if str(i.setting("esp") or "").lower() == esp]
    if len(for_esp) == 1:
        return for_esp[0]
    raise NoInboxForMail(f"no email inbox for {sorted(wanted)} via {esp_name}")


def _raw_bytes(message: Any) -> bytes:
    try:
        return bytes(message.as_bytes(policy=policy.default))
    except Exception:  # noqa: BLE001 - undecodable headers: fall back to the legacy writer
        return bytes(message.as_bytes(policy=policy.compat32))


@receiver(inbound, dispatch_uid="helpdesk-email-inbound")
def store_inbound_mail(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    message = event.message
    recipients = [str(message.envelope_recipient or "")]
    recipients += [a.addr_spec for a in (message.to or []) + (message.cc or [])]
    inbox = inbox_for(esp_name, recipients)
    meta = {"Esp": esp_name}
    if event.event_id:
        meta["Esp-Event-Id"] = str(event.event_id)[:200]
    store_raw(inbox, _raw_bytes(message), source="anymail", meta=meta)


def _outbound_entry(message_id: str) -> Entry | None:
    if not message_id:
        return None
    bracketed = message_id if message_id.startswith("<") else f"<{message_id}>"
    return (
        Entry.objects.filter(kind=Entry.Kind.OUTBOUND, channel=Channel.EMAIL, inbox__isnull=False)
        .filter(
            Q(provider_id__in=[message_id, bracketed]) | Q(parameters__esp_message_id=message_id)
        )
        .select_related("inbox")
        .first()
    )


@receiver(tracking, dispatch_uid="helpdesk-email-tracking")
def store_tracking_event(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    entry = _outbound_entry(str(event.message_id or ""))
    if entry is None or entry.inbox is None:
        log.info("%s tracking event for unknown message %s ignored", esp_name, event.message_id)
        return
    body = json.dumps(
        {
            "event_type": str(event.event_type or ""),
            "provider_id": entry.provider_id,
            "esp_message_id": str(event.message_id or ""),
            "recipient": str(event.recipient or ""),
            "description": str(
                event.description or event.reject_reason or event.mta_response or ""
            ),
            "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        },
        sort_keys=True,
    ).encode()
    key = event.event_id or hashlib.sha256(body).hexdigest()
    actions.store_event(
        entry.inbox, f"tracking:{esp_name}:{key}"[:255], TOPIC_TRACKING, body, {"Esp": esp_name}
    )
