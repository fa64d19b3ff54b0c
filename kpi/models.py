"""Surveys, stored KPI facts, targets and business-hours schedules.

The KPI app only reads the core; these tables are its own. Facts are one row per
conversation, refreshed incrementally by kpi.tasks; the page and the API aggregate
over them (see KPI.md for the definitions they follow).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Survey(models.TextChoices):
    CSAT = "csat", _("CSAT (1-5)")
    NPS = "nps", _("NPS (0-10)")


SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}


class SurveyRequest(models.Model):
    """We asked a customer to rate a resolved conversation (once per conversation)."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    survey = models.CharField(max_length=8, choices=Survey.choices)
    channel = models.CharField(max_length=12, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    # A text answer that was not a score got one clarification; later ones are ignored.
    clarified = models.BooleanField(default=False)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints: ClassVar = [
            # The survey task may run twice (acks late): one request per conversation.
            models.UniqueConstraint(fields=("conversation", "survey"), name="survey_request_once"),
        ]
        indexes: ClassVar = [
            # "NPS at most once per contact per 90 days".
            models.Index(fields=("contact", "survey", "created_at"), name="survey_request_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} #{self.conversation_id}"

    def is_open_at(self, when: object) -> bool:
        return self.answered_at is None and when < self.expires_at  # type: ignore[operator]


class SurveyResponse(models.Model):
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="survey_responses"
    )
    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    survey = models.CharField(max_length=8, choices=Survey.choices)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    channel = models.CharField(max_length=12, blank=True)
    entry = models.OneToOneField(
        "conversations.Entry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request = models.ForeignKey(
        SurveyRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-received_at", "-id")
        indexes: ClassVar = [
            # CSAT and NPS count responses received in the period.
            models.Index(fields=("survey", "received_at"), name="survey_response_received"),
        ]

    def __str__(self) -> str:
        return f"{self.survey}={self.score} #{self.conversation_id}"


class KpiConversationFact(models.Model):
    """Everything KPI.md needs to know about one conversation, precomputed.

    Days are in the workspace time zone (settings.WORKSPACE_TIME_ZONE); changing the
    zone needs `manage.py kpi_rebuild`.
    """

    conversation = models.OneToOneField(
        "conversations.Conversation",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    contact_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True, blank=True)
    agent_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=12, blank=True, help_text=_("first inbound channel"))
    status = models.CharField(max_length=12)
    created_at = models.DateTimeField()
    created_day = models.DateField()
    # Only while resolved now: the last resolution.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_day = models.DateField(null=True, blank=True)
    frt_seconds = models.FloatField(null=True, blank=True)
    business_frt_seconds = models.FloatField(null=True, blank=True)
    resolution_seconds = models.FloatField(null=True, blank=True)
    human_replies = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    repeat_contact = models.BooleanField(default=False)
    fcr = models.BooleanField(null=True, blank=True)
    inbound_channels = models.PositiveSmallIntegerField(default=0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=("created_day", "channel"), name="kpi_fact_created"),
            models.Index(
                fields=("resolved_day", "channel"),
                name="kpi_fact_resolved",
                condition=models.Q(resolved_day__isnull=False),
            ),
            models.Index(fields=("contact_id", "created_at"), name="kpi_fact_contact"),
        ]

    def __str__(self) -> str:
        return f"facts #{self.conversation_id}"


class KpiChannelTransition(models.Model):
    """Inbound on `to_channel` directly followed one on `from_channel` (once per pair)."""

    # No cascade: refresh deletes these explicitly, so deleting facts stays one statement.
    fact = models.ForeignKey(
        KpiConversationFact, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    from_channel = models.CharField(max_length=12)
    to_channel = models.CharField(max_length=12)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("fact", "from_channel", "to_channel"), name="kpi_transition_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_channel}->{self.to_channel}"


class KpiInboundDay(models.Model):
    """Inbound messages of one conversation on one workspace day and channel."""

    # No cascade: refresh deletes these explicitly, so deleting facts stays one statement.
    fact = models.ForeignKey(
        KpiConversationFact, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    day = models.DateField()
    channel = models.CharField(max_length=12)
    messages = models.PositiveIntegerField()

    class Meta:
        indexes: ClassVar = [models.Index(fields=("day", "channel"), name="kpi_inbound_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel}={self.messages}"


class KpiDirty(models.Model):
    """Conversations whose facts must be recomputed at the next refresh."""

    conversation_id = models.BigIntegerField(unique=True)
    marked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"dirty #{self.conversation_id}"


class KpiState(models.Model):
    """The refresh watermark (a single row)."""

    key = models.CharField(max_length=40, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class KpiTarget(models.Model):
    class Direction(models.TextChoices):
        HIGHER = "higher", _("Higher is better")
        LOWER = "lower", _("Lower is better")

    metric = models.CharField(max_length=40, unique=True)
    label = models.CharField(max_length=80)
    green = models.FloatField(help_text=_("meets the target at this value"))
    amber = models.FloatField(help_text=_("warning band ends at this value"))
    direction = models.CharField(max_length=8, choices=Direction.choices)
    unit = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.metric

    def colour(self, value: float | None) -> str:
        """green / amber / red for a value; "none" when there is no value."""
        if value is None:
            return "none"
        if self.direction == self.Direction.HIGHER:
            if value >= self.green:
                return "green"
            return "amber" if value >= self.amber else "red"
        if value <= self.green:
            return "green"
        return "amber" if value <= self.amber else "red"


class BusinessSchedule(models.Model):
    """Weekly opening hours in an IANA zone, per team (team null: the workspace's)."""

    name = models.CharField(max_length=100)
    team = models.OneToOneField(
        "helpdesk.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text=_("IANA zone; empty means the workspace zone")
    )
    # {"0": [["09:00", "17:00"]], ...}: Monday is 0, wall-clock intervals.
    hours = models.JSONField(default=dict)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    schedule = models.ForeignKey(
        BusinessSchedule, on_delete=models.CASCADE, related_name="holidays"
    )
    day = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ("day",)
        constraints: ClassVar = [
            models.UniqueConstraint(fields=("schedule", "day"), name="holiday_once")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class ImportedConversation(models.Model):
    """What `manage.py import_conversations` last wrote for an external id.

    The digest of the line makes a re-import of an unchanged line a no-op and a
    changed line an update. (It lives here because the importer is the one writer
    outside the core's actions and the core's schema belongs to another team.)
    """

    conversation = models.OneToOneField(
        "conversations.Conversation",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    external_id = models.CharField(max_length=200, unique=True)
    digest = models.CharField(max_length=64)
    imported_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.external_id
