"""Outbound webhooks: who wants which events, and the log of every delivery."""

from __future__ import annotations

import secrets
import uuid
from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", _("Conversation created")
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed", _("Conversation status changed")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversation assigned")
    MESSAGE_CREATED = "message.created", _("Message created (in or out)")
    CONTACT_CREATED = "contact.created", _("Contact created")
    CONTACT_MERGED = "contact.merged", _("Contacts merged")
    SURVEY_ANSWERED = "survey.answered", _("Survey answered")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class Subscription(models.Model):
    url = models.URLField(
        _("URL"), max_length=1000, help_text=_("HTTPS endpoint that receives POSTs")
    )
    events = models.JSONField(
        _("events"), default=list, help_text=_("Event names this endpoint receives")
    )
    # The receiver needs it to check X-Helpdesk-Signature, so it is kept readable.
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret)
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text=_("Failed deliveries in a row; reset by a success")
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(_("why it was disabled"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        verbose_name = _("webhook subscription")

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return self.is_active and event in (self.events or [])


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    # Sent as X-Helpdesk-Delivery: receivers de-duplicate retries with it.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=Event.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = _("deliveries")
        indexes: ClassVar = [
            models.Index(fields=("subscription", "-created_at"), name="delivery_subscription"),
            models.Index(
                fields=("status", "created_at"),
                name="delivery_unfinished",
                condition=Q(status__in=("pending", "sending")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
