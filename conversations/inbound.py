"""The normalized shapes every channel hands to the core (plain dataclasses).

Defined in the core so that conversations never imports channels_in; the adapters
build these and conversations.actions records them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conversations.identities import IdentityRef


@dataclass
class AttachmentRef:
    filename: str
    content_type: str
    # Either the bytes are here already, or a task fetches them from `url`.
    content: bytes | None = None
    url: str = ""
    size: int = 0


@dataclass
class ThreadHints:
    """What a message says about the conversation it belongs to."""

    # Provider ids of earlier entries it replies to (e-mail References, WhatsApp context).
    replies_to: list[str] = field(default_factory=list)
    conversation_number: int | None = None
    conversation_public_id: uuid.UUID | None = None


@dataclass
class InboundMessage:
    """A message normalized from any provider; the core knows nothing else."""

    inbox_id: int
    channel: str
    identities: list[IdentityRef]
    # The inbox's team: a new conversation starts there.
    team_id: int | None = None
    body: str = ""
    provider_id: str | None = None
    contact_name: str = ""
    html: str = ""
    subject: str = ""
    occurred_at: datetime | None = None
    attachments: list[AttachmentRef] = field(default_factory=list)
    thread: ThreadHints = field(default_factory=ThreadHints)
    is_auto: bool = False
    # "outbound" for echoes of messages a business sent from elsewhere (Meta echoes).
    direction: str = "inbound"
    client_id: uuid.UUID | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeliveryUpdate:
    """A provider's word on one of our outbound messages."""

    inbox_id: int
    provider_id: str
    status: str
    error: str = ""
    occurred_at: datetime | None = None


@dataclass
class CallUpdate:
    """A telephony provider's word on one call, in any order (conversations.actions.update_call).

    `identities` let the first callback of an unknown call create it; `entry_public_id`
    finds a call we started ourselves (click to call) before its provider id is known.
    """

    inbox_id: int
    call_sid: str
    changes: dict[str, Any] = field(default_factory=dict)
    identities: list[IdentityRef] = field(default_factory=list)
    contact_name: str = ""
    team_id: int | None = None
    entry_public_id: uuid.UUID | None = None
    occurred_at: datetime | None = None
