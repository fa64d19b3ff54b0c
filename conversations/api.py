"""REST API for the core (mounted at /api/v1/). Thin: access helper, one action, render.

Permissions are the inbox's (conversations/access.py): an object the agent may not
see answers 404; a read-scoped token answers 403 on writes (helpdesk.permissions).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import access, actions
from conversations import serializers as s
from conversations.export import export_contact
from conversations.models import (
    CannedResponse,
    Channel,
    Contact,
    Conversation,
    Entry,
    Identity,
)
from helpdesk.models import Agent
from helpdesk.pagination import TimelinePagination


def _agent(request: Request) -> Agent:
    user = request.user
    assert isinstance(user, Agent)  # noqa: S101 - IsAuthenticated ran first
    return user


def _invalid(field: str, message: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [message]})


# --- contacts ---------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List contacts",
        description="Contacts the agent can see, newest first. `q` searches names and "
        "identity values.",
        parameters=[
            OpenApiParameter("q", str, description="Search in names and addresses"),
        ],
    ),
    retrieve=extend_schema(summary="Get a contact"),
)
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ContactSerializer
    queryset = Contact.objects.none()  # for the schema; get_queryset() decides access

    def get_queryset(self) -> QuerySet[Contact]:
        qs = access.contacts_for_agent(_agent(self.request)).prefetch_related("identities")
        if self.action == "list":
            qs = qs.filter(merged_into__isnull=True)
            q = self.request.query_params.get("q", "").strip()[:200]
            if q:
                matches = Identity.objects.filter(contact=OuterRef("pk"), value__icontains=q)
                qs = qs.filter(Q(name__icontains=q) | Exists(matches))
        return qs

    def get_object(self) -> Contact:
        contact = access.get_contact_for_agent(_agent(self.request), self.kwargs["pk"])
        self.check_object_permissions(self.request, contact)
        return contact

    @extend_schema(
        summary="Create a contact",
        request=s.ContactCreateSerializer,
        responses={201: s.ContactSerializer},
    )
    def create(self, request: Request) -> Response:
        data = s.ContactCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refs = [item["ref"] for item in data.validated_data["identities"]]
        with transaction.atomic():
            taken = Identity.objects.filter(
                Q(*(Q(kind=r.kind, value=r.value) for r in refs), _connector=Q.OR)
            ).first()
            if taken is not None:
                raise _invalid(
                    "identities",
                    _("%(value)s already belongs to another contact.") % {"value": taken.value},
                )
            contact = actions.resolve_contact(refs, data.validated_data.get("name", ""))
            if "attributes" in data.validated_data:
                actions.update_contact(contact, attributes=data.validated_data["attributes"])
            verified = {
                (i["ref"].kind, i["ref"].value)
                for i in data.validated_data["identities"]
                if i["verified"]
            }
            for identity in contact.identities.all():
                if (identity.kind, identity.value) in verified:
                    actions.set_identity_verified(identity, _agent(request), True)
        contact = Contact.objects.prefetch_related("identities").get(pk=contact.pk)
        return Response(s.ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a contact",
        description="Sets the name and/or merges keys into the attributes.",
        request=s.ContactUpdateSerializer,
        responses={200: s.ContactSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        data = s.ContactUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.update_contact(
            contact,
            name=data.validated_data.get("name"),
            attributes=data.validated_data.get("attributes"),
        )
        return Response(s.ContactSerializer(contact).data)

    @extend_schema(
        summary="Add an identity",
        request=s.IdentityInputSerializer,
        responses={201: s.IdentitySerializer},
    )
    @action(detail=True, methods=["post"])
    def identities(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        data = s.IdentityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = actions.add_identity(
            contact, data.validated_data["ref"], verified=data.validated_data["verified"]
        )
        return Response(s.IdentitySerializer(identity).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove an identity",
        request=None,
        responses={204: None},
        parameters=[OpenApiParameter("identity_id", int, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["delete"], url_path=r"identities/(?P<identity_id>[^/.]+)")
    def remove_identity(self, request: Request, pk: str, identity_id: str) -> Response:
        contact = self.get_object()
        if not identity_id.isdigit():
            raise Http404
        identity = get_object_or_404(Identity, pk=int(identity_id), contact=contact)
        actions.remove_identity(identity, _agent(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Merge another contact into this one",
        description="Identities, conversations and history of `source` move here; the "
        "source stays as a pointer (merged_into).",
        request=s.MergeSerializer,
        responses={200: s.ContactSerializer},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = s.MergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = access.get_contact_for_agent(_agent(request), data.validated_data["source"])
        actions.merge_contacts(source, target, _agent(request))
        target = Contact.objects.prefetch_related("identities").get(pk=target.pk)
        return Response(s.ContactSerializer(target).data)

    @extend_schema(
        summary="Export everything about a contact",
        description="The contact, its identities and every conversation with every "
        "timeline entry (subject access request).",
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str) -> Response:
        return Response(export_contact(self.get_object()))


# --- conversations ----------------------------------------------------------------------


class ConversationFilter(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[("active", "active"), *Conversation.Status.choices], required=False
    )
    assignee = serializers.CharField(required=False)
    team = serializers.IntegerField(required=False)
    inbox = serializers.IntegerField(required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    label = serializers.CharField(required=False, max_length=64)  # type: ignore[assignment]

    def validate_assignee(self, value: str) -> str:
        if value in ("me", "none") or value.isdigit():
            return value
        raise serializers.ValidationError(_("Use an agent id, 'me' or 'none'."))


CONVERSATION_FILTERS = [
    OpenApiParameter(
        "status",
        str,
        enum=["active", *Conversation.Status.values],
        description="A status, or `active` (open, pending and snoozed)",
    ),
    OpenApiParameter(
        "assignee",
        str,
        pattern=r"^(me|none|[0-9]+)$",
        description="An agent id, `me`, or `none` for unassigned",
    ),
    OpenApiParameter("team", int, description="Team id"),
    OpenApiParameter("inbox", int, description="Inbox id"),
    OpenApiParameter(
        "channel", str, enum=Channel.values, description="First or last customer channel"
    ),
    OpenApiParameter("label", str, description="Label name"),
]


# The columns ConversationSerializer shows, for the list.
LIST_FIELDS = (
    "id",
    "public_id",
    "subject",
    "status",
    "priority",
    "contact_id",
    "inbox_id",
    "team_id",
    "assignee_id",
    "first_channel",
    "last_inbound_channel",
    "last_message_at",
    "waiting_since",
    "snoozed_until",
    "resolved_at",
    "reopened_count",
    "created_at",
    "updated_at",
    "contact__id",
    "contact__name",
    "assignee__id",
    "assignee__name",
    "assignee__email",
)


def _attach_label_names(rows: list[dict[str, Any]]) -> None:
    """Set `label_names` (sorted by name, as Label orders) on each row, in one query
    of plain values: prefetch_related("labels") built a manager and Label objects
    per row, a third of a page's time."""
    names: dict[int, list[str]] = {row["id"]: [] for row in rows}
    if names:
        through = Conversation.labels.through.objects.filter(conversation_id__in=names)
        for conversation_id, name in through.order_by("label__name").values_list(
            "conversation_id", "label__name"
        ):
            names[conversation_id].append(name)
    for row in rows:
        row["label_names"] = names[row["id"]]


@extend_schema_view(
    list=extend_schema(
        summary="List conversations",
        description="Conversations the agent can see, newest first (by number), with the "
        "inbox's filters. Cursor-paginated: stable while new conversations arrive.",
        parameters=CONVERSATION_FILTERS,
    ),
    retrieve=extend_schema(summary="Get a conversation"),
)
class ConversationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ConversationSerializer
    queryset = Conversation.objects.none()  # for the schema; get_queryset() decides access

    def get_queryset(self) -> QuerySet[Conversation]:
        agent = _agent(self.request)
        qs = access.conversations_for_agent(agent).select_related("contact", "assignee")
        if self.action != "list":
            return qs.prefetch_related("labels")
        # Only the columns the representation uses: not the contact's attributes
        # (free-form JSON, possibly large), the agent's password hash, nor the
        # lifecycle timestamps the KPI app reads. The labels come in list().
        qs = qs.only(*LIST_FIELDS)
        f = ConversationFilter(data=self.request.query_params)
        f.is_valid(raise_exception=True)
        params = f.validated_data
        status_ = params.get("status")
        if status_ == "active":
            qs = qs.filter(status__in=Conversation.ACTIVE_STATUSES)
        elif status_:
            qs = qs.filter(status=status_)
        assignee = params.get("assignee")
        if assignee == "me":
            qs = qs.filter(assignee=agent)
        elif assignee == "none":
            qs = qs.filter(assignee__isnull=True)
        elif assignee:
            qs = qs.filter(assignee_id=int(assignee))
        if "team" in params:
            qs = qs.filter(team_id=params["team"])
        if "inbox" in params:
            qs = qs.filter(inbox_id=params["inbox"])
        if params.get("channel"):
            channel = params["channel"]
            qs = qs.filter(Q(last_inbound_channel=channel) | Q(first_channel=channel))
        if params.get("label"):
            labelled = Conversation.labels.through.objects.filter(
                conversation_id=OuterRef("pk"), label__name=params["label"]
            )
            qs = qs.filter(Exists(labelled))
        return qs

    def list(self, request: Request) -> Response:
        # Plain rows, not model instances (ConversationSerializer.row_representation).
        rows = self.filter_queryset(self.get_queryset()).values(*LIST_FIELDS)
        page: list[dict[str, Any]] = self.paginate_queryset(rows) or []
        _attach_label_names(page)
        return self.get_paginated_response(
            [s.ConversationSerializer.row_representation(row) for row in page]
        )

    def get_object(self) -> Conversation:
        conversation = access.get_conversation_for_agent(_agent(self.request), self.kwargs["pk"])
        self.check_object_permissions(self.request, conversation)
        return conversation

    def _render(self, conversation: Conversation) -> Response:
        conversation = (
            Conversation.objects.select_related("contact", "assignee")
            .prefetch_related("labels")
            .get(pk=conversation.pk)
        )
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(
        summary="Set the status",
        description="Open, pending, resolve, or snooze until a future time.",
        request=s.StatusSerializer,
        responses={200: s.ConversationSerializer},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.set_status(
            conversation,
            _agent(request),
            data.validated_data["status"],
            snoozed_until=data.validated_data.get("snoozed_until"),
        )
        return self._render(conversation)

    @extend_schema(
        summary="Assign",
        description="Assign to an agent (or null to unassign), optionally moving it to a team.",
        request=s.AssignSerializer,
        responses={200: s.ConversationSerializer},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        keep_team = "team" not in data.validated_data
        conversation = actions.assign(
            conversation,
            _agent(request),
            assignee=data.validated_data["assignee"],
            team=data.validated_data.get("team"),
            keep_team=keep_team,
        )
        return self._render(conversation)

    @extend_schema(
        summary="Set the labels",
        request=s.LabelsSerializer,
        responses={200: s.ConversationSerializer},
    )
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.LabelsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.set_labels(
            conversation, _agent(request), data.validated_data["labels"]
        )
        return self._render(conversation)

    @extend_schema(
        summary="Set the priority",
        request=s.PrioritySerializer,
        responses={200: s.ConversationSerializer},
    )
    @action(detail=True, methods=["post"])
    def priority(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.PrioritySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = actions.set_priority(
            conversation, _agent(request), data.validated_data["priority"]
        )
        return self._render(conversation)

    @extend_schema(
        summary="Timeline",
        description="The unified timeline of the conversation's contact: every entry of "
        "every conversation of theirs the agent can see, oldest first.",
        responses={200: s.EntrySerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=TimelinePagination,
        serializer_class=s.EntrySerializer,
    )
    def timeline(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        visible = access.conversations_for_agent(_agent(request)).filter(
            contact_id=conversation.contact_id
        )
        entries = Entry.objects.filter(
            contact_id=conversation.contact_id, conversation__in=visible.values("pk")
        ).select_related("author")
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(s.EntrySerializer(page, many=True).data)

    @extend_schema(
        summary="Reply",
        description="Queue a public reply on a chosen channel (default: the channel of the "
        "last customer message). Delivery status follows on the entry.",
        request=s.ReplySerializer,
        responses={201: s.EntrySerializer},
    )
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = actions.reply(
            conversation,
            _agent(request),
            data.validated_data["body"],
            via=data.validated_data.get("channel"),
            subject=data.validated_data.get("subject", ""),
        )
        return Response(s.EntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add a private note",
        request=s.NoteSerializer,
        responses={201: s.EntrySerializer},
    )
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        data = s.NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = actions.add_note(conversation, _agent(request), data.validated_data["body"])
        return Response(s.EntrySerializer(entry).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List canned responses"),
    retrieve=extend_schema(summary="Get a canned response"),
)
class CannedResponseViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.CannedResponseSerializer
    queryset = CannedResponse.objects.all()
