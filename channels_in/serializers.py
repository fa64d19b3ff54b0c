"""API representation of inboxes. Never exposes secrets nor provider settings."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from channels_in.models import Inbox


class InboxSerializer(serializers.ModelSerializer[Inbox]):
    class Meta:
        model = Inbox
        # Deliberately not `config` nor `secrets`: tokens, signing keys and provider
        # addresses stay in the admin.
        fields = ("id", "public_id", "kind", "slug", "name", "team", "is_active", "created_at")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "public_id": {"help_text": _("Stable public identifier")},
            "kind": {"help_text": _("The channel provider")},
            "slug": {"help_text": _("Short name used in webhook URLs")},
            "name": {"help_text": _("Human name")},
            "team": {"help_text": _("Id of the team that owns new conversations")},
            "is_active": {"help_text": _("Whether it accepts traffic")},
            "created_at": {"help_text": _("When it was configured")},
        }
