"""The domain core: contacts, identities, conversations and the unified timeline.

Models answer questions about themselves; every change goes through actions.py.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    CHAT = "chat", _("Live chat")
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    TELEGRAM = "telegram", _("Telegram")
    API = "api", _("API")


class Contact(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    # Set when this contact was merged into another; the row stays so the merge can
    # be found later and old links keep resolving.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.name or str(_("Contact #%(id)s") % {"id": self.pk})

    @property
    def display_name(self) -> str:
        return self.name or str(_("Unknown customer"))


class IdentityKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    # One kind for every channel that reaches a telephone number: SMS, voice and
    # WhatsApp from the same number are the same contact.
    PHONE = "phone", _("Phone number")
    # WhatsApp users that arrive without a phone number (business-scoped user id).
    WHATSAPP = "whatsapp", _("WhatsApp user id")
    MESSENGER = "messenger", _("Messenger PSID")
    INSTAGRAM = "instagram", _("Instagram id")
    TELEGRAM = "telegram", _("Telegram user id")
    CHAT = "chat", _("Chat visitor id")
    API = "api", _("API identifier")


class Identity(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    # Normalized: e-mail lower-cased, phone E.164 (see identities.normalize).
    value = models.CharField(max_length=320)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("kind", "value")
        verbose_name_plural = "identities"
        constraints: ClassVar = [
            # Identity resolution relies on this: one owner per address, whoever races.
            models.UniqueConstraint(fields=("kind", "value"), name="identity_unique_kind_value"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Label(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=7, default="#6b7280")

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def active(self) -> ConversationQuerySet:
        return self.filter(status__in=Conversation.ACTIVE_STATUSES)


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    ACTIVE_STATUSES: ClassVar[tuple[str, ...]] = (
        Status.OPEN,
        Status.PENDING,
        Status.SNOOZED,
    )

    # The primary key doubles as the human conversation number (#1234): it is
    # unique, ordered and costs no lock to allocate.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # db_index=False on these four: each leads a composite index below (conv_contact_status,
    # conv_inbox, conv_team, conv_assignee) that serves the same lookups, and every
    # insert or import paid for the duplicate.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="conversations", db_index=False
    )
    inbox = models.ForeignKey(
        "channels_in.Inbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    team = models.ForeignKey(
        "helpdesk.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        db_index=False,
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=12, choices=Priority.choices, default=Priority.NORMAL)
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    subject = models.CharField(max_length=300, blank=True)
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        help_text=_("The earlier conversation this one continues"),
    )
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)

    # Lifecycle timestamps, kept by actions and read by the KPI app as they are.
    first_channel = models.CharField(max_length=12, choices=Channel.choices, blank=True)
    first_inbound_at = models.DateTimeField(null=True, blank=True)
    first_human_reply_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_inbound_channel = models.CharField(max_length=12, choices=Channel.choices, blank=True)
    # When the customer started waiting for us; None while the ball is in their court.
    waiting_since = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)
    human_reply_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ("-last_message_at", "-id")
        indexes: ClassVar = [
            # Continuity: "the open conversation of this contact" on every inbound.
            models.Index(
                fields=("contact", "status", "-last_message_at"), name="conv_contact_status"
            ),
            # Inbox list views, keyset-paginated by waiting time or recency.
            models.Index(fields=("status", "waiting_since", "id"), name="conv_status_waiting"),
            models.Index(fields=("status", "-last_message_at", "-id"), name="conv_status_recent"),
            models.Index(fields=("assignee", "status", "-last_message_at"), name="conv_assignee"),
            models.Index(fields=("team", "status", "-last_message_at"), name="conv_team"),
            # The agent inbox's other views (conversations/listing.py), both sort orders.
            models.Index(
                fields=("assignee", "status", "waiting_since", "id"), name="conv_assignee_waiting"
            ),
            models.Index(
                fields=("team", "status", "waiting_since", "id"), name="conv_team_waiting"
            ),
            models.Index(fields=("inbox", "status", "-last_message_at"), name="conv_inbox"),
            # KPI periods: created in / resolved in.
            models.Index(fields=("created_at",), name="conv_created"),
            models.Index(fields=("resolved_at",), name="conv_resolved"),
            models.Index(
                fields=("snoozed_until",),
                name="conv_snoozed_until",
                condition=Q(status="snoozed"),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def number(self) -> int:
        return self.pk

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    def can_reopen_at(self, when: object) -> bool:
        """A resolved conversation takes a new customer message within the reopen window."""
        from datetime import timedelta

        if self.status != self.Status.RESOLVED or self.resolved_at is None:
            return False
        window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
        return bool(when <= self.resolved_at + window)  # type: ignore[operator]


class Entry(models.Model):
    """One line of the unified timeline: a message in or out, a note, or an event.

    Messages and activity share one append-only table so a contact's whole history,
    across every channel and conversation, is one indexed query.
    """

    class Kind(models.TextChoices):
        INBOUND = "inbound", _("Customer message")
        OUTBOUND = "outbound", _("Reply")
        NOTE = "note", _("Private note")
        EVENT = "event", _("Event")

    class Delivery(models.TextChoices):
        NONE = "", _("n/a")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    # Delivery status only moves forward: provider callbacks arrive out of order.
    DELIVERY_RANK: ClassVar[dict[str, int]] = {
        "": 0,
        "queued": 1,
        "sending": 2,
        "sent": 3,
        "delivered": 4,
        "read": 5,
        "failed": 6,
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No single-column indexes on these two: entry_conversation and entry_contact lead
    # with them, and the timeline table takes every message's insert.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    # Denormalized from the conversation so one contact's timeline is one index scan.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=12, choices=Channel.choices, blank=True)
    inbox = models.ForeignKey(
        "channels_in.Inbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text=_("Sanitized with nh3"))
    # The provider's id for this message (Twilio MessageSid, wamid, Message-ID...).
    provider_id = models.CharField(max_length=255, null=True, blank=True)
    # The widget's client-generated id, so a resent frame is one message.
    client_id = models.UUIDField(null=True, blank=True)
    delivery_status = models.CharField(
        max_length=10, choices=Delivery.choices, default=Delivery.NONE, blank=True
    )
    delivery_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Automatic messages (auto-acknowledgements, bots, survey invitations, out-of-office
    # replies) never count as a human reply.
    is_auto = models.BooleanField(default=False)
    event = models.CharField(max_length=40, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("occurred_at", "id")
        verbose_name_plural = "entries"
        constraints: ClassVar = [
            # Idempotency lives here: a webhook delivered twice, or a task run twice,
            # writes one entry.
            models.UniqueConstraint(
                fields=("inbox", "provider_id"),
                name="entry_unique_provider_id",
                condition=Q(provider_id__isnull=False),
            ),
            models.UniqueConstraint(
                fields=("contact", "client_id"),
                name="entry_unique_client_id",
                condition=Q(client_id__isnull=False),
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=("conversation", "occurred_at", "id"), name="entry_conversation"),
            models.Index(fields=("contact", "occurred_at", "id"), name="entry_contact"),
            # Search for a common word: newest entries first, stop at a page of hits,
            # instead of sorting every match (conversations/search.py).
            models.Index(fields=("occurred_at", "id"), name="entry_recent"),
            # Status callbacks find our outbound message by its provider id alone.
            models.Index(fields=("provider_id",), name="entry_provider_id"),
            # The outbound retry sweep and the failure counter in /metrics.
            models.Index(
                fields=("delivery_status",),
                name="entry_delivery_pending",
                condition=Q(delivery_status__in=("queued", "sending", "failed")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} #{self.conversation_id}"

    @property
    def is_human_reply(self) -> bool:
        return self.kind == self.Kind.OUTBOUND and not self.is_auto and self.author_id is not None

    def delivery_moves_to(self, status: str) -> bool:
        """True if `status` is a step forward from the current delivery status."""
        if self.delivery_status == self.Delivery.FAILED:
            return False
        return self.DELIVERY_RANK.get(status, -1) > self.DELIVERY_RANK[self.delivery_status]


def attachment_path(instance: Attachment, filename: str) -> str:
    now = timezone.now()
    return f"attachments/{now:%Y/%m}/{uuid.uuid4().hex}/{filename}"


class Attachment(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500, blank=True)
    # Where the provider keeps it until a task fetches it (Twilio MediaUrl, Meta media id).
    source_url = models.CharField(max_length=1000, blank=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class CannedResponse(models.Model):
    """A saved reply the composer inserts by typing `/shortcut`.

    The body may use {{ contact_name }}, {{ contact_first_name }}, {{ agent_name }}
    and {{ conversation_number }}; canned.render fills them in.
    """

    shortcut = models.SlugField(_("shortcut"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=120, blank=True)
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("shortcut",)

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Notification(models.Model):
    """The in-app bell: mentions and assignments, per agent."""

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mention")
        ASSIGNED = "assigned", _("Assignment")
        NEW_CONVERSATION = "new_conversation", _("New conversation")

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes: ClassVar = [
            # The bell: "my unread, newest first" on every page.
            models.Index(fields=("agent", "read_at", "-created_at"), name="notification_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.agent_id}"
