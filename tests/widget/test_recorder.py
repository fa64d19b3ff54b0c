from __future__ import annotations

import asyncio
import uuid
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from conversations.actions import ActionError
from conversations.models import Entry
from helpdesk.models import Team
from tests.widget.helpers import make_chat_inbox
from widget import actions, recorder
from widget.sessions import new_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inbox():
    return make_chat_inbox(team=Team.objects.create(name="Support"))


def message(inbox, body="Hello", client_id=None, session=None) -> actions.VisitorMessage:
    return actions.VisitorMessage(
        inbox,
        session or new_session(inbox.pk),
        client_id or str(uuid.uuid4()),
        body,
        "192.0.2.1",
    )


def test_messages_of_several_visitors_are_written_in_one_transaction(inbox):
    # Known visitors: each has written once already.
    first = [message(inbox, "first") for _ in range(3)]
    for m in first:
        actions.record_visitor_messages([m])
    batch = [message(inbox, f"again {i}", session=m.session) for i, m in enumerate(first)]

    with CaptureQueriesContext(connection) as queries:
        answers = actions.record_visitor_messages(batch)

    assert [type(a) for a in answers] == [actions.Acked] * 3
    assert [a.entry["body"] for a in answers if isinstance(a, actions.Acked)] == [
        "again 0",
        "again 1",
        "again 2",
    ]
    sql = [q["sql"] for q in queries.captured_queries]
    batch_sql = sql[: sql.index("COMMIT") + 1]
    # One transaction (SQLite says BEGIN IMMEDIATE); the batch's lookups once (client
    # ids, senders, contacts, conversations: 4), then per message its INSERT and
    # the conversation's UPDATE.
    assert sum(q.startswith("BEGIN") for q in batch_sql) == 1
    assert len(batch_sql) == 1 + 4 + 3 * 2 + 1, batch_sql
    # The after-commit work is coalesced: one KPI mark for the three conversations.
    assert sum(q.startswith("INSERT") and '"kpi_kpidirty"' in q for q in sql) == 1
    assert Entry.objects.filter(body__startswith="again").count() == 3


def test_a_refused_message_does_not_take_the_others_with_it(inbox):
    answers = actions.record_visitor_messages(
        [message(inbox, "one"), message(inbox, "   "), message(inbox, "three")]
    )
    assert isinstance(answers[0], actions.Acked)
    assert isinstance(answers[1], ActionError)
    assert isinstance(answers[2], actions.Acked)
    assert sorted(Entry.objects.values_list("body", flat=True)) == ["one", "three"]


def test_a_failed_batch_is_rolled_back_and_each_message_written_on_its_own(inbox):
    real = actions.core.record_inbound
    failed: list[str] = []

    def deadlock_once(msg):
        if msg.body == "two" and not failed:
            failed.append(msg.body)
            raise OperationalError("deadlock detected")
        return real(msg)

    with mock.patch.object(actions.core, "record_inbound", side_effect=deadlock_once):
        answers = actions.record_visitor_messages(
            [message(inbox, "one"), message(inbox, "two"), message(inbox, "three")]
        )
    assert [type(a) for a in answers] == [actions.Acked] * 3
    assert sorted(Entry.objects.values_list("body", flat=True)) == ["one", "three", "two"]


def test_a_resent_message_is_the_same_entry_in_a_batch_too(inbox):
    m = message(inbox, "once")
    first = actions.record_visitor_messages([m])[0]
    again = actions.record_visitor_messages([m, message(inbox, "other")])[0]
    assert isinstance(first, actions.Acked) and isinstance(again, actions.Acked)
    assert again.entry["id"] == first.entry["id"]
    assert Entry.objects.filter(body="once").count() == 1


def _record_with_one_writer(inbox, count: int) -> tuple[list[str], list[int]]:
    """Record `count` messages at once through one writer; the acks' ids in order,
    and the sizes of the batches the writer wrote."""
    sizes: list[int] = []

    def record(messages):
        sizes.append(len(messages))
        return [
            actions.Acked(entry={"id": m.body}, contact_id=1, conversation_id=1)  # type: ignore[typeddict-item]
            for m in messages
        ]

    async def scenario():
        with (
            mock.patch.object(recorder, "WRITERS", 1),
            mock.patch.object(recorder, "record_visitor_messages", side_effect=record),
        ):
            r = recorder.for_this_loop()
            acks = await asyncio.gather(*(r.record(message(inbox, str(i))) for i in range(count)))
        return [a.entry["id"] for a in acks]

    return async_to_sync(scenario)(), sizes


def test_what_waits_while_the_writers_are_busy_goes_in_one_batch(inbox):
    ids, sizes = _record_with_one_writer(inbox, 4)
    assert ids == ["0", "1", "2", "3"]
    assert sizes == [1, 3]


def test_a_backlog_is_written_in_batches_of_at_most_max_batch(inbox):
    count = 1 + recorder.MAX_BATCH + 3
    ids, sizes = _record_with_one_writer(inbox, count)
    assert ids == [str(i) for i in range(count)]
    assert sizes == [1, recorder.MAX_BATCH, 3]
