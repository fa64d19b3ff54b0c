"""/api/v1/: every API endpoint, plus the schema and its doc page."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from channels_in.api import InboxViewSet
from conversations.api import CannedResponseViewSet, ContactViewSet, ConversationViewSet
from helpdesk.api import AgentViewSet, TeamViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("conversations", ConversationViewSet, basename="api-conversation")
router.register("canned-responses", CannedResponseViewSet, basename="api-canned")
router.register("inboxes", InboxViewSet, basename="api-inbox")
router.register("teams", TeamViewSet, basename="api-team")
router.register("agents", AgentViewSet, basename="api-agent")

urlpatterns = [path("", include(router.urls))]
