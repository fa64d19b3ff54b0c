"""Instagram DMs: `object=instagram` webhooks (echoes arrive in `messages` too).

Sending uses {graph}/{instagram_id}/messages; apps on "Instagram API with Instagram
Login" set the inbox's `graph_url` to https://graph.instagram.com and use the
Instagram app secret as `app_secret`. IGSIDs are identities of kind `instagram`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from channels_in.adapters.meta import MessagingAdapter
from conversations.models import Channel, IdentityKind


class InstagramAdapter(MessagingAdapter):
    kind = "instagram"
    channels = (Channel.INSTAGRAM,)
    config_keys: ClassVar[tuple[str, ...]] = ("instagram_id", "page_id", "app_id", "graph_url")
    required_keys: ClassVar[tuple[str, ...]] = (
        "app_secret",
        "verify_token",
        "access_token",
        "instagram_id",
    )
    meta_object = "instagram"
    account_key = "instagram_id"
    identity_kind = IdentityKind.INSTAGRAM
    product = "Instagram"
    profile_fields = ("name", "username")

    def name_from_profile(self, profile: dict[str, Any]) -> str:
        return str(profile.get("name") or profile.get("username") or "")
