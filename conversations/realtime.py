"""Group names and after-commit publishing: the one place live updates are built.

Actions call publish_on_commit; consumers join the groups named here and never
invent names of their own.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

# Summaries of conversations without a team go to every agent.
AGENTS_GROUP = "agents"
KPI_GROUP = "kpi"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def team_group(team_id: int | None) -> str:
    """Conversation summaries of one team; team-less ones go to AGENTS_GROUP."""
    return f"team.{team_id}" if team_id else AGENTS_GROUP


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def visitor_group(contact_id: int) -> str:
    return f"visitor.{contact_id}"


def publish_now(group: str, payload: dict[str, Any]) -> None:
    """Send to a group at once. A realtime outage must not fail the write it reports."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, payload)
    except Exception:  # noqa: BLE001 - Redis down: the data is safe, the push is lost
        log.warning("realtime publish to %s failed", group, exc_info=True)


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    """Publish after the surrounding transaction commits, never for a rolled-back one."""
    transaction.on_commit(lambda: publish_now(group, payload))
