"""The agent's websocket: thin, sync, and it only joins groups realtime.py names."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from django.http import Http404
from django.template.loader import render_to_string

from conversations import access, actions, presence, realtime, timeline
from helpdesk.models import Team


class AgentConsumer(JsonWebsocketConsumer):
    """Frames in: {"type": "subscribe"|"unsubscribe", "conversation": id},
    {"type": "activity", "conversation": id, "state": "viewing"|"replying"|"idle"}
    (collision detection), {"type": "catch_up", "conversation": id, "after": entry
    public id, "also": [entry public ids]} (after a reconnect or a live event).

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
        # conversation id -> what this agent is doing there, for collision detection
        self.activity: dict[int, str] = {}
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
        for conversation_id in list(getattr(self, "activity", {})):
            self._announce(conversation_id, "left")
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
            self.activity[conversation.pk] = "viewing"
            # ask=True: everyone already there answers with what they are doing.
            self._announce(conversation.pk, "viewing", ask=True)
        elif kind == "activity":
            conversation_id = _int(content.get("conversation"))
            state = content.get("state")
            if conversation_id not in self.activity or state not in ACTIVITY_STATES:
                self.send_json({"type": "error", "error": "subscribe first"})
                return
            if self.activity[conversation_id] != state:
                self.activity[conversation_id] = state
                self._announce(conversation_id, state)
        elif kind == "catch_up":
            self._catch_up(content)
        elif kind == "unsubscribe":
            conversation_id = _int(content.get("conversation"))
            if self.activity.pop(conversation_id, None) is not None:
                self._announce(conversation_id, "left")
            group = realtime.conversation_group(conversation_id)
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

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # The ASGI send itself, for dispatch (a sync consumer's base_send is wrapped
        # for its handlers, which run on a thread).
        self._send_from_loop = send
        await super().__call__(scope, receive, send)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Events the browser gets as they are go out from the event loop.

        A sync handler costs a hop to the process's one sync thread and another back
        for the send; with every agent getting every summary of a busy inbox, that
        thread was the queue that held live messages back for seconds.
        """
        if message.get("type") in PASSED_THROUGH:
            text = self.encode_json(message)
            await self._send_from_loop({"type": "websocket.send", "text": text})
            return
        await super().dispatch(message)

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

    def agent_activity(self, event: dict[str, Any]) -> None:
        """Another agent's viewing/replying state in a conversation this socket watches."""
        conversation_id = event["conversation"]
        if event["agent"] == self.agent.pk or conversation_id not in self.activity:
            return  # our own echo (or another tab of ours), or a conversation we left
        self.send_json({k: v for k, v in event.items() if k not in ("ask", "channel")})
        if event.get("ask"):
            self._announce(conversation_id, self.activity[conversation_id])

    # --- collision detection and catch-up ------------------------------------------
    def _announce(self, conversation_id: int, state: str, *, ask: bool = False) -> None:
        async_to_sync(self.channel_layer.group_send)(
            realtime.conversation_group(conversation_id),
            {
                "type": "agent.activity",
                "conversation": conversation_id,
                "agent": self.agent.pk,
                "name": self.agent.display_name,
                "state": state,
                "ask": ask,
                "channel": self.channel_name,
            },
        )

    def _catch_up(self, content: dict[str, Any]) -> None:
        """Entries newer than the client's last one, plus fresh copies of `also`
        (replies whose delivery status may have moved while the socket was down)."""
        try:
            conversation = access.get_conversation_for_agent(
                self.agent, _int(content.get("conversation"))
            )
        except Http404:
            self.send_json({"type": "error", "error": "no such conversation"})
            return
        after = str(content.get("after") or "")
        entries = timeline.entries_after(conversation, after)
        also = [str(i) for i in (content.get("also") or [])[:50]]
        seen = {e.pk for e in entries}
        if also:
            entries += [
                e for e in timeline.entries_by_public_ids(conversation, also) if e.pk not in seen
            ]
        self.send_json(
            {
                "type": "catch_up",
                "conversation": conversation.pk,
                "entries": [
                    {
                        "id": str(entry.public_id),
                        "kind": entry.kind,
                        "delivery_status": entry.delivery_status,
                        "html": render_to_string(
                            "conversations/snippets/entry.html",
                            {
                                "entry": entry,
                                "contact": conversation.contact,
                                "conversation": conversation,
                            },
                        ),
                    }
                    for entry in entries
                ],
            }
        )


ACTIVITY_STATES = ("viewing", "replying", "idle")
# Event types sent to the browser unchanged (the handlers below that only send_json).
PASSED_THROUGH = frozenset(
    {
        "entry.created",
        "entry.updated",
        "conversation.created",
        "conversation.updated",
        "typing",
        "notification",
    }
)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
