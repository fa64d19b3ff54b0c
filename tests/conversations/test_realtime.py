from __future__ import annotations

from conversations.realtime import latest_summaries


def _updated(conversation_id: int, preview: str) -> dict[str, object]:
    return {"type": "conversation.updated", "conversation": {"id": conversation_id, "p": preview}}


def test_a_batch_sends_each_group_the_last_summary_of_each_conversation_only() -> None:
    entry = {"type": "entry.created", "entry": {"id": "e1"}}
    created = {"type": "conversation.created", "conversation": {"id": 2, "p": "new"}}
    messages = (
        ("team-1", _updated(1, "first")),
        ("conversation-1", entry),
        ("team-1", created),
        ("team-1", _updated(1, "second")),
        ("team-2", _updated(1, "other team")),
        ("team-1", _updated(2, "after created")),
    )
    assert latest_summaries(messages) == [
        ("conversation-1", entry),
        ("team-1", created),
        ("team-1", _updated(1, "second")),
        ("team-2", _updated(1, "other team")),
        ("team-1", _updated(2, "after created")),
    ]


def test_without_repeats_nothing_is_dropped() -> None:
    messages = (("team-1", _updated(1, "a")), ("team-1", _updated(2, "b")))
    assert latest_summaries(messages) == list(messages)
