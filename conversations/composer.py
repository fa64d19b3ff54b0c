"""What the composer offers: the channels this contact can be reached on, and why not.

The core knows nothing about providers, so it asks a `reachability` callable
(channels_in's registry, passed in by the view) about each inbox it would use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max
from django.utils.translation import gettext as _

from conversations.models import Channel, Contact, Conversation, Entry, IdentityKind

# Which channels an identity of a kind can receive messages on.
IDENTITY_CHANNELS: dict[str, tuple[str, ...]] = {
    IdentityKind.EMAIL: (Channel.EMAIL,),
    IdentityKind.PHONE: (Channel.SMS, Channel.WHATSAPP, Channel.PHONE),
    IdentityKind.WHATSAPP: (Channel.WHATSAPP,),
    IdentityKind.MESSENGER: (Channel.MESSENGER,),
    IdentityKind.INSTAGRAM: (Channel.INSTAGRAM,),
    IdentityKind.TELEGRAM: (Channel.TELEGRAM,),
    IdentityKind.CHAT: (Channel.CHAT,),
    IdentityKind.API: (Channel.API,),
}


@dataclass
class ChannelOption:
    channel: str
    label: str
    inbox_id: int | None
    inbox_name: str
    reason: str  # '' when the contact can be reached on it now
    default: bool = False

    @property
    def available(self) -> bool:
        return not self.reason


class InboxInfo:
    """The few facts the composer needs about an inbox (duck-typed for the view)."""

    def __init__(self, pk: int, name: str, kind: str, channels: Iterable[str], obj: Any) -> None:
        self.pk = pk
        self.name = name
        self.kind = kind
        self.channels = tuple(channels)
        self.obj = obj


def last_inbox_per_channel(contact: Contact) -> dict[str, int]:
    """For each channel this contact has used, the inbox it used most recently (1 query)."""
    rows = (
        Entry.objects.filter(
            contact=contact,
            kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND),
            inbox__isnull=False,
        )
        .exclude(channel="")
        .values("channel", "inbox_id")
        .annotate(last=Max("occurred_at"))
    )
    best: dict[str, tuple[Any, int]] = {}
    for row in rows:
        current = best.get(row["channel"])
        if current is None or row["last"] > current[0]:
            best[row["channel"]] = (row["last"], row["inbox_id"])
    return {channel: inbox_id for channel, (_at, inbox_id) in best.items()}


def channel_options(
    conversation: Conversation,
    identity_kinds: Iterable[str],
    inboxes: list[InboxInfo],
    reason_for: Callable[[InboxInfo, str, int], str],
) -> list[ChannelOption]:
    """Channels the contact used or has an identity for, each with the inbox to use.

    `reason_for(inbox, channel, contact_id)` is the adapter's unavailable_reason.
    """
    labels = dict(Channel.choices)
    by_id = {i.pk: i for i in inboxes}
    used = last_inbox_per_channel(conversation.contact)
    wanted: list[str] = list(used)
    for kind in identity_kinds:
        for channel in IDENTITY_CHANNELS.get(kind, ()):
            if channel not in wanted:
                wanted.append(channel)
    default = conversation.last_inbound_channel or conversation.first_channel
    options = []
    for channel in wanted:
        inbox = by_id.get(used.get(channel, -1))
        if inbox is None or channel not in inbox.channels:
            # Never used, or that inbox is gone: any active inbox that carries it.
            inbox = next((i for i in inboxes if channel in i.channels), inbox)
        if inbox is None:
            reason = _("No inbox is set up for %(channel)s.") % {
                "channel": labels.get(channel, channel)
            }
        elif channel not in inbox.channels:
            reason = _("The %(inbox)s inbox cannot send on %(channel)s.") % {
                "inbox": inbox.name,
                "channel": labels.get(channel, channel),
            }
        else:
            reason = reason_for(inbox, channel, conversation.contact_id)
        options.append(
            ChannelOption(
                channel=channel,
                label=str(labels.get(channel, channel)),
                inbox_id=inbox.pk if inbox else None,
                inbox_name=inbox.name if inbox else "",
                reason=reason,
                default=channel == default,
            )
        )
    if options and not any(o.default and o.available for o in options):
        first = next((o for o in options if o.available), None)
        for option in options:
            option.default = option is first
    return options
