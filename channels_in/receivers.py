"""Extension points the core offers, answered by this app."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from channels_in.models import InboundEvent
from conversations.actions import contact_erased


@receiver(contact_erased)
def scrub_raw_events(sender: Any, contact_id: int, **kwargs: Any) -> None:
    # The raw payloads hold the customer's messages and addresses too.
    InboundEvent.objects.filter(contact_id=contact_id).update(body=b"", headers={})
