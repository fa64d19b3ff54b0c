"""The agent's websocket: thin, sync, and it only joins groups realtime.py names."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from django.http import Http404

from conversations import access, actions, presence, realtime
from helpdesk.models import Team


class AgentConsumer(JsonWebsocketConsumer):
    """Frames in: {"type": "subscribe"|"unsubscribe", "conversation": id}.

    Frames out: the events actions publish (entry.created, entry.updated,
    conversation.created, conversation.updated, notification).
    """

    def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            self.close(code=4401)
            return
        self.agent = user
        self.groups_joined: set[str] = set()
        self.accept()
        team_ids = (
            list(Team.objects.values_list("id", flat=True))
            if user.sees_all_teams
            else list(user.teams.values_list("id", flat=True))
        )
        for group in [realtime.AGENTS_GROUP, realtime.agent_group(user.pk)] + [
            realtime.team_group(team_id) for team_id in team_ids
        ]:
            self._join(group)
        self.send_json({"type": "hello", "agent": user.pk})
        presence.agent_connected(user.pk)

    def disconnect(self, code: int) -> None:
        if getattr(self, "agent", None) is not None:
            presence.agent_disconnected(self.agent.pk)
        for group in list(getattr(self, "groups_joined", ())):
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    def _join(self, group: str) -> None:
        async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
        self.groups_joined.add(group)

    def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "subscribe":
            try:
                conversation = access.get_conversation_for_agent(
                    self.agent, content.get("conversation")
                )
            except Http404:
                self.send_json({"type": "error", "error": "no such conversation"})
                return
            self._join(realtime.conversation_group(conversation.pk))
            self.send_json({"type": "subscribed", "conversation": conversation.pk})
        elif kind == "unsubscribe":
            group = realtime.conversation_group(int(content.get("conversation") or 0))
            if group in self.groups_joined:
                async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)
                self.groups_joined.discard(group)
        elif kind in ("typing", "seen"):
            # Live chat: typing indicator / read receipt for the visitor's widget.
            try:
                conversation = access.get_conversation_for_agent(
                    self.agent, content.get("conversation")
                )
            except Http404:
                self.send_json({"type": "error", "error": "no such conversation"})
                return
            if kind == "typing":
                actions.publish_typing(conversation, self.agent, bool(content.get("typing")))
            else:
                actions.publish_seen_by_agent(conversation, self.agent)
        else:
            self.send_json({"type": "error", "error": f"unknown frame type {kind!r}"})

    # Handlers, named after the event `type` actions publish.
    def entry_created(self, event: dict[str, Any]) -> None:
        self.send_json(event)

    def entry_updated(self, event: dict[str, Any]) -> None:
        self.send_json(event)

    def conversation_created(self, event: dict[str, Any]) -> None:
        self.send_json(event)

    def conversation_updated(self, event: dict[str, Any]) -> None:
        self.send_json(event)

    def typing(self, event: dict[str, Any]) -> None:
        self.send_json(event)

    def notification(self, event: dict[str, Any]) -> None:
        self.send_json(event)
