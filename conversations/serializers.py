"""API representations and input validation for the core. They validate and
represent; the views call conversations.actions with the validated data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.identities import InvalidIdentity, normalize
from conversations.models import (
    CannedResponse,
    Channel,
    Contact,
    Conversation,
    Entry,
    Identity,
    IdentityKind,
)
from helpdesk.models import Agent, Team


class AgentRefSerializer(serializers.ModelSerializer[Agent]):
    name = serializers.CharField(source="display_name", read_only=True, help_text=_("Display name"))

    class Meta:
        model = Agent
        fields = ("id", "name", "email")
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "email": {"help_text": _("The agent's e-mail address")},
        }


# --- contacts -------------------------------------------------------------------------


class IdentitySerializer(serializers.ModelSerializer[Identity]):
    class Meta:
        model = Identity
        fields = ("id", "kind", "value", "verified", "created_at")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "kind": {"help_text": _("What the value is: e-mail, phone (E.164), chat id...")},
            "value": {"help_text": _("Normalized: e-mail lower-cased, phone in E.164")},
            "verified": {"help_text": _("Whether the customer proved they own it")},
            "created_at": {"help_text": _("When it was first seen")},
        }


class IdentityInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=IdentityKind.choices, help_text=_("Kind of identity"))
    value = serializers.CharField(
        max_length=320, help_text=_("The address or id; normalized before it is stored")
    )
    verified = serializers.BooleanField(
        default=False, help_text=_("Whether the customer proved they own it")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            ref = normalize(attrs["kind"], attrs["value"])
        except InvalidIdentity as exc:
            raise serializers.ValidationError({"value": [str(exc)]}) from None
        return {**attrs, "ref": ref}


class ContactSerializer(serializers.ModelSerializer[Contact]):
    identities = IdentitySerializer(many=True, read_only=True, help_text=_("Known addresses"))

    class Meta:
        model = Contact
        fields = (
            "id",
            "public_id",
            "name",
            "attributes",
            "identities",
            "merged_into",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "public_id": {"help_text": _("Stable public identifier")},
            "name": {"help_text": _("The customer's name, if known")},
            "attributes": {"help_text": _("Free-form key/value data (CRM ids, plan...)")},
            "merged_into": {"help_text": _("Set when this contact was merged into another")},
            "created_at": {"help_text": _("When the contact was created")},
            "updated_at": {"help_text": _("Last change")},
        }


_DATETIME = serializers.DateTimeField()


def _iso_datetime(value: datetime) -> str:
    """DRF's DateTimeField representation (ISO 8601 in the current time zone, UTC as
    "Z") without its per-call settings lookups; the list endpoint formats six per row."""
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _channel_field(help_text: Any) -> serializers.ChoiceField:
    # Declared explicitly: read-only model fields lose allow_blank, and the schema
    # must say that "" (no channel yet, or an event) is a possible value.
    return serializers.ChoiceField(
        choices=Channel.choices, allow_blank=True, read_only=True, help_text=help_text
    )


def _validate_attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError(_("Attributes must be a JSON object."))
    if len(str(value)) > 20_000:
        raise serializers.ValidationError(_("Attributes are too large."))
    return value


class ContactCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text=_("The customer's name")
    )
    attributes = serializers.DictField(
        required=False, help_text=_("Free-form key/value data (a JSON object)")
    )
    identities = serializers.ListField(
        child=IdentityInputSerializer(),
        min_length=1,
        max_length=20,
        help_text=_("At least one address; none may belong to another contact"),
    )

    def validate_attributes(self, value: Any) -> dict[str, Any]:
        return _validate_attributes(value)

    def validate_identities(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise serializers.ValidationError(_("A contact needs at least one identity."))
        return value


class ContactUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text=_("The customer's name")
    )
    attributes = serializers.DictField(
        required=False,
        help_text=_("Keys to set; merged into the existing attributes (a JSON object)"),
    )

    def validate_attributes(self, value: Any) -> dict[str, Any]:
        return _validate_attributes(value)


class MergeSerializer(serializers.Serializer[Any]):
    source = serializers.IntegerField(  # type: ignore[assignment]
        min_value=1, help_text=_("Id of the contact to merge into this one; it stays as a pointer")
    )


# --- conversations ----------------------------------------------------------------------


class ContactRefSerializer(serializers.ModelSerializer[Contact]):
    class Meta:
        model = Contact
        fields = ("id", "name")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "name": {"help_text": _("The customer's name, if known")},
        }


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    contact = ContactRefSerializer(read_only=True, help_text=_("The customer"))
    assignee = AgentRefSerializer(read_only=True, allow_null=True, help_text=_("Assigned agent"))
    labels = serializers.SerializerMethodField(help_text=_("Label names"))
    first_channel = _channel_field(_("Channel of the first message, or empty"))
    last_inbound_channel = _channel_field(_("Channel of the last customer message, or empty"))

    class Meta:
        model = Conversation
        fields = (
            "id",
            "public_id",
            "subject",
            "status",
            "priority",
            "contact",
            "inbox",
            "team",
            "assignee",
            "labels",
            "first_channel",
            "last_inbound_channel",
            "last_message_at",
            "waiting_since",
            "snoozed_until",
            "resolved_at",
            "reopened_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The conversation number")},
            "public_id": {"help_text": _("Stable public identifier")},
            "subject": {"help_text": _("Subject, if the channel has one")},
            "status": {"help_text": _("open, pending, snoozed or resolved")},
            "priority": {"help_text": _("low, normal, high or urgent")},
            "inbox": {"help_text": _("Id of the inbox it arrived in")},
            "team": {"help_text": _("Id of the owning team")},
            "first_channel": {"help_text": _("Channel of the first message")},
            "last_inbound_channel": {"help_text": _("Channel of the last customer message")},
            "last_message_at": {"help_text": _("Time of the last message")},
            "waiting_since": {"help_text": _("Since when the customer waits for us, or null")},
            "snoozed_until": {"help_text": _("When a snoozed conversation wakes up")},
            "resolved_at": {"help_text": _("When it was last resolved")},
            "reopened_count": {"help_text": _("How often it was reopened")},
            "created_at": {"help_text": _("When it started")},
            "updated_at": {"help_text": _("Last change")},
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_labels(self, obj: Conversation) -> list[str]:
        return [label.name for label in obj.labels.all()]

    def to_representation(self, instance: Conversation) -> dict[str, Any]:
        # The list endpoint's hot path: built directly rather than field by field
        # (about half the time of the generic path for a page of 50). The fields and
        # formats are the declared ones; tests compare both paths.
        dt = _iso_datetime
        contact, assignee = instance.contact, instance.assignee
        labels = getattr(instance, "label_names", None)
        if labels is None:
            labels = [label.name for label in instance.labels.all()]
        return {
            "id": instance.pk,
            "public_id": str(instance.public_id),
            "subject": instance.subject,
            "status": instance.status,
            "priority": instance.priority,
            "contact": {"id": contact.pk, "name": contact.name},
            "inbox": instance.inbox_id,
            "team": instance.team_id,
            "assignee": (
                {"id": assignee.pk, "name": assignee.display_name, "email": assignee.email}
                if assignee is not None
                else None
            ),
            "labels": labels,
            "first_channel": instance.first_channel,
            "last_inbound_channel": instance.last_inbound_channel,
            "last_message_at": dt(instance.last_message_at) if instance.last_message_at else None,
            "waiting_since": dt(instance.waiting_since) if instance.waiting_since else None,
            "snoozed_until": dt(instance.snoozed_until) if instance.snoozed_until else None,
            "resolved_at": dt(instance.resolved_at) if instance.resolved_at else None,
            "reopened_count": instance.reopened_count,
            "created_at": dt(instance.created_at),
            "updated_at": dt(instance.updated_at),
        }

    @staticmethod
    def row_representation(row: dict[str, Any]) -> dict[str, Any]:
        """to_representation of a `.values(*conversations.api.LIST_FIELDS)` row with
        `label_names` set: the list endpoint skips building three model instances
        per row (a fifth of its CPU)."""
        dt = _iso_datetime
        assignee_id = row["assignee_id"]
        return {
            "id": row["id"],
            "public_id": str(row["public_id"]),
            "subject": row["subject"],
            "status": row["status"],
            "priority": row["priority"],
            "contact": {"id": row["contact_id"], "name": row["contact__name"]},
            "inbox": row["inbox_id"],
            "team": row["team_id"],
            "assignee": (
                {
                    "id": assignee_id,
                    "name": Agent.display_name_of(row["assignee__name"], row["assignee__email"]),
                    "email": row["assignee__email"],
                }
                if assignee_id is not None
                else None
            ),
            "labels": row["label_names"],
            "first_channel": row["first_channel"],
            "last_inbound_channel": row["last_inbound_channel"],
            "last_message_at": dt(row["last_message_at"]) if row["last_message_at"] else None,
            "waiting_since": dt(row["waiting_since"]) if row["waiting_since"] else None,
            "snoozed_until": dt(row["snoozed_until"]) if row["snoozed_until"] else None,
            "resolved_at": dt(row["resolved_at"]) if row["resolved_at"] else None,
            "reopened_count": row["reopened_count"],
            "created_at": dt(row["created_at"]),
            "updated_at": dt(row["updated_at"]),
        }

    def generic_representation(self, instance: Conversation) -> dict[str, Any]:
        """The field-by-field representation (what to_representation must equal)."""
        return dict(super().to_representation(instance))


class EntrySerializer(serializers.ModelSerializer[Entry]):
    id = serializers.UUIDField(source="public_id", read_only=True, help_text=_("Entry id"))
    author = AgentRefSerializer(read_only=True, allow_null=True, help_text=_("Agent, if any"))
    channel = _channel_field(_("Channel the message went through; empty for notes and events"))

    class Meta:
        model = Entry
        fields = (
            "id",
            "conversation",
            "kind",
            "channel",
            "author",
            "subject",
            "body",
            "delivery_status",
            "delivery_error",
            "is_auto",
            "event",
            "parameters",
            "occurred_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "conversation": {"help_text": _("Conversation number")},
            "kind": {"help_text": _("inbound, outbound, note or event")},
            "channel": {"help_text": _("Channel the message went through")},
            "subject": {"help_text": _("Subject, if the channel has one")},
            "body": {"help_text": _("Plain-text body")},
            "delivery_status": {"help_text": _("For replies: queued, sent, delivered, ...")},
            "delivery_error": {"help_text": _("Why delivery failed, if it did")},
            "is_auto": {"help_text": _("Sent automatically, not by a person")},
            "event": {"help_text": _("For events: what happened (status_changed, ...)")},
            "parameters": {"help_text": _("For events: the details")},
            "occurred_at": {"help_text": _("When it happened")},
        }


class StatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=Conversation.Status.choices, help_text=_("The new status")
    )
    snoozed_until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("With status snoozed: when it wakes up (a future time)"),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["status"] == Conversation.Status.SNOOZED and not attrs.get("snoozed_until"):
            raise serializers.ValidationError(
                {"snoozed_until": [_("Snooze needs a time in the future.")]}
            )
        return attrs


class AssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=Agent.objects.filter(is_active=True),
        allow_null=True,
        help_text=_("Agent id, or null to unassign"),
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Team id; omitted keeps the current team, null clears it"),
    )


class LabelsSerializer(serializers.Serializer[Any]):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=False),
        max_length=50,
        help_text=_("The full set of label names; missing ones are removed"),
    )


class PrioritySerializer(serializers.Serializer[Any]):
    priority = serializers.ChoiceField(
        choices=Conversation.Priority.choices, help_text=_("The new priority")
    )


class ReplySerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=100_000, help_text=_("The reply text"))
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        help_text=_("Channel to reply on; defaults to the last customer message's channel"),
    )
    subject = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text=_("Subject (e-mail)")
    )


class NoteSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=100_000, help_text=_("Private note for agents"))


class CannedResponseSerializer(serializers.ModelSerializer[CannedResponse]):
    class Meta:
        model = CannedResponse
        fields = ("id", "shortcut", "title", "body", "created_at")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "shortcut": {"help_text": _("Typed as /shortcut in the composer")},
            "title": {"help_text": _("Human title")},
            "body": {"help_text": _("Text with {{ contact_name }}-style variables")},
            "created_at": {"help_text": _("When it was created")},
        }
