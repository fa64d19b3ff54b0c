"""Read-mostly admin: edits that would bypass actions.py are not offered."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from conversations.models import (
    Attachment,
    CannedResponse,
    Contact,
    Conversation,
    Entry,
    Identity,
    Label,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    readonly_fields = ("kind", "value", "verified", "created_at")
    can_delete = False


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "created_at", "merged_into", "erased_at")
    search_fields = ("name", "identities__value")
    inlines = (IdentityInline,)


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "value", "contact", "verified")
    list_filter = ("kind",)
    search_fields = ("value",)
    list_select_related = ("contact",)


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "contact",
        "status",
        "team",
        "assignee",
        "last_inbound_channel",
        "last_message_at",
    )
    list_filter = ("status", "priority", "first_channel", "team")
    search_fields = ("id", "contact__name", "subject")
    list_select_related = ("contact", "team", "assignee")
    raw_id_fields = ("contact", "previous")


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation_id", "kind", "channel", "delivery_status", "occurred_at")
    list_filter = ("kind", "channel", "delivery_status")
    search_fields = ("provider_id",)
    raw_id_fields = ("conversation", "contact")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("filename", "content_type", "size", "entry_id")


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "color")


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """Canned replies are plain content (no timeline effect), so they're edited here."""

    list_display = ("shortcut", "title")
    search_fields = ("shortcut", "title", "body")
