"""Canned responses: `/shortcut` in the composer, with a few variables filled in."""

from __future__ import annotations

import re
from typing import Any

from conversations import refdata
from conversations.models import Conversation
from helpdesk.models import Agent

VARIABLE_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def variables(conversation: Conversation, agent: Agent) -> dict[str, str]:
    name = conversation.contact.name
    return {
        "contact_name": name,
        "contact_first_name": name.split()[0] if name.strip() else "",
        "agent_name": agent.display_name,
        "conversation_number": str(conversation.pk),
    }


def render(body: str, values: dict[str, str]) -> str:
    """Fill {{ variable }}; unknown variables stay as written, so a typo shows."""
    return VARIABLE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def for_composer(conversation: Conversation, agent: Agent) -> list[dict[str, Any]]:
    values = variables(conversation, agent)
    return [
        {"shortcut": c.shortcut, "title": c.title, "body": render(c.body, values)}
        for c in refdata.canned_responses(200)
    ]
