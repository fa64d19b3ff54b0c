"""Inbox kind -> adapter class, imported lazily by dotted path."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels_in.base import ChannelAdapter
    from channels_in.models import Inbox

ADAPTERS: dict[str, str] = {
    "api": "channels_in.adapters.api.ApiAdapter",
    "chat": "channels_in.adapters.chat.ChatAdapter",
    "twilio": "channels_in.adapters.twilio.TwilioAdapter",
    "email": "channels_in.adapters.email.EmailAdapter",
    "whatsapp_cloud": "channels_in.adapters.whatsapp_cloud.WhatsAppCloudAdapter",
    "messenger": "channels_in.adapters.messenger.MessengerAdapter",
    "instagram": "channels_in.adapters.instagram.InstagramAdapter",
    "telegram": "channels_in.adapters.telegram.TelegramAdapter",
}


@cache
def adapter_class(kind: str) -> type[ChannelAdapter]:
    try:
        dotted = ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for inbox kind {kind!r}") from None
    module_name, class_name = dotted.rsplit(".", 1)
    cls: type[ChannelAdapter] = getattr(import_module(module_name), class_name)
    return cls


def adapter_for(inbox: Inbox) -> ChannelAdapter:
    return adapter_class(inbox.kind)(inbox)


def known_kinds() -> list[str]:
    return sorted(ADAPTERS)
