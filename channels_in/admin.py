from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from channels_in import actions
from channels_in.models import InboundEvent, Inbox


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "kind", "team", "is_active")
    list_filter = ("kind", "is_active")
    readonly_fields = ("kind", "secret_keys")
    exclude = ("secrets",)

    @admin.display(description="secrets set")
    def secret_keys(self, obj: Inbox) -> str:
        return ", ".join(sorted(obj.secrets)) or "-"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # `manage.py inbox add` validates keys and encrypts secrets


@admin.action(description="Replay the selected events now")
def replay_events(modeladmin: Any, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
    results = [actions.replay(event) for event in queryset]
    done = sum(1 for r in results if r is not None and r.status != "failed")
    messages.info(request, f"replayed {len(results)}: {done} processed")


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "inbox",
        "topic",
        "provider_event_id",
        "status",
        "attempts",
        "received_at",
    )
    list_filter = ("status", "inbox__kind", "topic")
    search_fields = ("provider_event_id", "error")
    readonly_fields = [f.name for f in InboundEvent._meta.fields if f.name != "body"] + ["raw"]
    exclude = ("body",)
    actions = (replay_events,)

    @admin.display(description="raw body")
    def raw(self, obj: InboundEvent) -> str:
        return bytes(obj.body)[:20000].decode("utf-8", "replace")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.method == "GET"  # view, and the replay action
