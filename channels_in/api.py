"""Read-only API for inboxes: the agent's teams' inboxes and team-less ones."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from channels_in.models import Inbox
from channels_in.serializers import InboxSerializer
from helpdesk.models import Agent


@extend_schema_view(
    list=extend_schema(summary="List inboxes"),
    retrieve=extend_schema(summary="Get an inbox"),
)
class InboxViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InboxSerializer

    def get_queryset(self) -> QuerySet[Inbox]:
        agent = self.request.user
        if not isinstance(agent, Agent):
            return Inbox.objects.none()
        if agent.sees_all_teams:
            return Inbox.objects.all()
        return Inbox.objects.filter(Q(team__isnull=True) | Q(team__members=agent)).distinct()
