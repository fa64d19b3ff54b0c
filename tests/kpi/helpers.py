"""Hand-built histories through the real actions, at chosen times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import time_machine

from conversations import actions
from conversations.identities import normalize
from conversations.inbound import InboundMessage
from conversations.models import Conversation, Entry
from helpdesk.models import Agent
from tests.base import HelpdeskTestCase


class KpiTestCase(HelpdeskTestCase):
    def inbound(
        self,
        at: datetime,
        channel: str = "email",
        who: str = "ana@example.com",
        kind: str = "email",
        **kwargs: Any,
    ) -> Entry:
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            team_id=self.support.pk,
            channel=channel,
            identities=[normalize(kind, who)],
            body=kwargs.pop("body", f"hello via {channel}"),
            occurred_at=at,
            **kwargs,
        )
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg).entry

    def reply(
        self,
        conversation: Conversation,
        at: datetime,
        author: Agent | None = None,
        *,
        is_auto: bool = False,
        via: str | None = None,
        body: str = "Thanks",
    ) -> Entry:
        with time_machine.travel(at, tick=False), self.captureOnCommitCallbacks(execute=True):
            return actions.reply(
                conversation,
                None if is_auto else (author or self.alice),
                body,
                via=via,
                is_auto=is_auto,
            )

    def note(self, conversation: Conversation, at: datetime) -> Entry:
        with time_machine.travel(at, tick=False), self.captureOnCommitCallbacks(execute=True):
            return actions.add_note(conversation, self.alice, "internal")

    def resolve(self, conversation: Conversation, at: datetime) -> Conversation:
        with self.captureOnCommitCallbacks(execute=True):
            return actions.set_status(conversation, self.alice, "resolved", at=at)

    def reopen(self, conversation: Conversation, at: datetime) -> Conversation:
        with self.captureOnCommitCallbacks(execute=True):
            return actions.set_status(conversation, self.alice, "open", at=at)
