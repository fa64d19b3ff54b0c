"""Read-only API for agents and teams, and the schema / doc page views."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from helpdesk.models import Agent, Team


class TeamSerializer(serializers.ModelSerializer[Team]):
    members: serializers.PrimaryKeyRelatedField[Agent] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text=_("Ids of the member agents")
    )

    class Meta:
        model = Team
        fields = ("id", "public_id", "name", "members", "created_at")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "public_id": {"help_text": _("Stable public identifier")},
            "name": {"help_text": _("Team name")},
            "created_at": {"help_text": _("When the team was created")},
        }


class AgentSerializer(serializers.ModelSerializer[Agent]):
    display_name = serializers.CharField(read_only=True, help_text=_("Name shown to others"))
    teams: serializers.PrimaryKeyRelatedField[Team] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text=_("Ids of the agent's teams")
    )

    class Meta:
        model = Agent
        fields = ("id", "public_id", "email", "name", "display_name", "role", "is_active", "teams")
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("Unique id")},
            "public_id": {"help_text": _("Stable public identifier")},
            "email": {"help_text": _("Login e-mail address")},
            "name": {"help_text": _("Full name")},
            "role": {"help_text": _("agent, supervisor or admin")},
            "is_active": {"help_text": _("Whether the agent may log in")},
        }


@extend_schema_view(
    list=extend_schema(summary="List teams"),
    retrieve=extend_schema(summary="Get a team"),
)
class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TeamSerializer

    def get_queryset(self) -> QuerySet[Team]:
        return Team.objects.prefetch_related("members")


@extend_schema_view(
    list=extend_schema(summary="List agents"),
    retrieve=extend_schema(summary="Get an agent"),
)
class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AgentSerializer

    def get_queryset(self) -> QuerySet[Agent]:
        return Agent.objects.prefetch_related("teams")
