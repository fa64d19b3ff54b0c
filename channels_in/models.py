"""Configured channels (inboxes) and the raw events providers send us."""

from __future__ import annotations

import os
import uuid
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_in import crypto


class Inbox(models.Model):
    class Kind(models.TextChoices):
        API = "api", _("API")
        CHAT = "chat", _("Live chat")
        EMAIL = "email", _("E-mail")
        TWILIO = "twilio", _("Twilio (SMS, WhatsApp, voice)")
        WHATSAPP_CLOUD = "whatsapp_cloud", _("WhatsApp Cloud API")
        MESSENGER = "messenger", _("Messenger")
        INSTAGRAM = "instagram", _("Instagram")
        TELEGRAM = "telegram", _("Telegram")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        "helpdesk.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes"
    )
    # Non-secret settings (addresses, callback URLs, allowed origins...).
    config = models.JSONField(default=dict, blank=True)
    # Secret settings, each value Fernet-encrypted (crypto.py); never shown again.
    secrets = models.JSONField(default=dict, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("slug",)
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def get_secret(self, key: str) -> str:
        """The secret `key`: from HELPDESK_INBOX_<SLUG>_<KEY> if set, else decrypted."""
        env_name = f"HELPDESK_INBOX_{self.slug}_{key}".upper().replace("-", "_")
        if env_name in os.environ:
            return os.environ[env_name]
        token = self.secrets.get(key)
        if not token:
            return ""
        # Webhooks verify with the same (per-process cached) inbox many times a second:
        # decrypt each token once. Keyed by the token, so a new secret is decrypted anew.
        plain: dict[str, str] = self.__dict__.setdefault("_decrypted", {})
        if token not in plain:
            plain[token] = crypto.decrypt(token)
        return plain[token]

    def set_secret(self, key: str, value: str) -> None:
        self.secrets = {**self.secrets, key: crypto.encrypt(value)}

    def setting(self, key: str, default: Any = "") -> Any:
        return self.config.get(key, default)


class InboundEvent(models.Model):
    """A provider's request as it arrived: stored before we answer, parsed later."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="events")
    # The provider's id for this delivery (message id, update id, status+sid...).
    provider_event_id = models.CharField(max_length=255)
    # Which endpoint it came through (messages, status, voice...), for the adapter.
    topic = models.CharField(max_length=40, blank=True)
    body = models.BinaryField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Whose data this is, once parsed: erasing the contact scrubs the raw copy too.
    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-received_at", "-id")
        constraints: ClassVar = [
            # A provider retry of the same delivery stores nothing new.
            models.UniqueConstraint(
                fields=("inbox", "provider_event_id"), name="inboundevent_unique_provider_event"
            ),
        ]
        indexes: ClassVar = [
            # replay_inbound --failed and the backlog sweep.
            models.Index(
                fields=("status", "received_at"),
                name="inboundevent_unfinished",
                condition=Q(status__in=("received", "failed")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inbox.slug}:{self.provider_event_id} ({self.status})"
