"""Facebook Messenger: `object=page` webhooks, Send API at {graph}/{page_id}/messages.

Parsing and sending are shared with Instagram (meta.MessagingAdapter); PSIDs are
identities of their own (kind `messenger`).
"""

from __future__ import annotations

from typing import ClassVar

from channels_in.adapters.meta import MessagingAdapter
from conversations.models import Channel, IdentityKind


class MessengerAdapter(MessagingAdapter):
    kind = "messenger"
    channels = (Channel.MESSENGER,)
    config_keys: ClassVar[tuple[str, ...]] = ("page_id", "app_id", "graph_url")
    required_keys: ClassVar[tuple[str, ...]] = (
        "app_secret",
        "verify_token",
        "access_token",
        "page_id",
    )
    meta_object = "page"
    account_key = "page_id"
    identity_kind = IdentityKind.MESSENGER
    product = "Messenger"
    profile_fields = ("first_name", "last_name")
