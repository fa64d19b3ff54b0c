from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from webhooks import actions
from webhooks.models import Delivery, Event, Subscription


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(assume_scheme="https", max_length=1000, label=_("URL"))
    events = forms.MultipleChoiceField(
        choices=Event.choices, widget=forms.CheckboxSelectMultiple, label=_("events")
    )

    class Meta:
        model = Subscription
        fields = ("url", "events", "description", "secret")


@admin.action(description=_("Re-enable the selected subscriptions"))
def enable_subscriptions(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Subscription]
) -> None:
    for subscription in queryset:
        actions.enable(subscription)
    messages.info(request, _("Re-enabled %(count)s.") % {"count": queryset.count()})


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = (
        "url",
        "event_list",
        "is_active",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    )
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("is_active", "consecutive_failures", "disabled_at", "disabled_reason")
    actions = (enable_subscriptions,)

    @admin.display(description=_("events"))
    def event_list(self, obj: Subscription) -> str:
        return ", ".join(obj.events or [])


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "subscription",
        "event",
        "status",
        "attempts",
        "response_status",
        "error",
        "created_at",
        "last_attempt_at",
    )
    list_filter = ("status", "event", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("error", "response_excerpt")
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
