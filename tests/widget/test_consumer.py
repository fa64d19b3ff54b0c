from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.test import override_settings

from channels_in.adapters.chat import identity_hash
from conversations import actions
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Contact, Conversation, Entry, Identity
from helpdesk.models import Team
from tests.widget.helpers import (
    IDENTITY_SECRET,
    Queries,
    agent_socket,
    hello,
    make_agent,
    make_chat_inbox,
    next_of,
    say,
    visitor,
)
from widget.sessions import VisitorSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team():
    return Team.objects.create(name="Support")


@pytest.fixture
def inbox(team):
    return make_chat_inbox(team=team)


@pytest.fixture
def alice(team):
    return make_agent(team=team)


def run(coro_fn):
    async_to_sync(coro_fn)()


def test_a_new_visitor_gets_a_signed_token_and_no_contact_yet(inbox):
    queries = Queries()

    async def scenario():
        ws = visitor()
        queries.mark()
        ready = await hello(ws)
        # inbox (connect); on hello the chat identity and the team's agents.
        assert queries.count == 3, queries.sql()
        assert ready["type"] == "ready"
        assert ready["entries"] == []
        assert ready["conversation"] is None
        assert ready["availability"] == {"online": False, "in_hours": True, "agents_online": 0}
        assert ready["token"] and ready["visitor"]
        await ws.disconnect()

    run(scenario)
    assert not Contact.objects.exists()


def test_a_message_is_stored_once_and_acknowledged_with_its_entry(inbox):
    queries = Queries()
    client_id = str(uuid.uuid4())

    async def scenario():
        ws = visitor()
        await hello(ws)
        ack = await say(ws, "Where is my order?", client_id)
        assert ack["type"] == "ack"
        assert ack["client_id"] == client_id
        assert ack["entry"]["body"] == "Where is my order?"
        assert ack["entry"]["kind"] == "inbound"
        # The same frame again (a resend after a reconnect) is the same entry.
        queries.mark()
        again = await say(ws, "Where is my order?", client_id)
        assert again["entry"]["id"] == ack["entry"]["id"]
        # Rate limits live in the cache. The resend: BEGIN, the identities (a known
        # customer: no savepoint), the contact lock, the client_id lookup that finds
        # it, COMMIT, and the attachments of that entry.
        assert queries.count == 6, queries.sql()
        await ws.disconnect()

    run(scenario)
    entry = Entry.objects.get(kind="inbound")
    assert entry.channel == "chat"
    assert str(entry.client_id) == client_id
    assert entry.inbox_id == inbox.pk
    assert entry.conversation.team_id == inbox.team_id
    identity = Identity.objects.get(kind="chat")
    assert identity.contact_id == entry.contact_id


def test_a_message_costs_a_bounded_number_of_queries(inbox):
    queries = Queries()

    async def scenario():
        ws = visitor()
        await hello(ws)
        await say(ws, "first")
        queries.mark()
        await say(ws, "second")
        second = queries.until_commit
        queries.mark()
        await say(ws, "third")
        assert queries.until_commit == second, "the cost of a message must not grow"
        # BEGIN, identities (a known customer: no savepoint), contact lock, client_id,
        # active conversation, its lock, the insert (in a savepoint: 3), the
        # conversation update, COMMIT.
        assert second == 11, queries.sql()
        await ws.disconnect()

    run(scenario)
    assert Entry.objects.filter(kind="inbound").count() == 3


def test_agent_replies_and_typing_reach_the_visitor_and_visitor_typing_reaches_the_agent(
    inbox, alice
):
    async def scenario():
        ws = visitor()
        await hello(ws)
        ack = await say(ws, "Hello?")
        conversation_id = ack["entry"]["conversation"]
        agent = agent_socket(alice)
        assert (await agent.connect())[0]
        await next_of(agent, "hello")
        await agent.send_json_to({"type": "subscribe", "conversation": conversation_id})
        await next_of(agent, "subscribed")

        await ws.send_json_to({"type": "typing", "typing": True})
        typing = await next_of(agent, "typing")
        assert typing == {
            "type": "typing",
            "conversation": conversation_id,
            "who": "visitor",
            "typing": True,
            "name": "",
        }

        await agent.send_json_to(
            {"type": "typing", "conversation": conversation_id, "typing": True}
        )
        frame = await next_of(ws, "typing")
        assert frame == {"type": "typing", "typing": True, "name": "Alice"}

        conversation = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
        await database_sync_to_async(actions.reply)(conversation, alice, "We're on it")
        reply = await next_of(ws, "entry")
        assert reply["entry"]["kind"] == "outbound"
        assert reply["entry"]["body"] == "We're on it"
        assert reply["entry"]["author"] == "Alice"

        await agent.send_json_to({"type": "seen", "conversation": conversation_id})
        assert (await next_of(ws, "seen"))["conversation"] == conversation_id
        await agent.disconnect()
        await ws.disconnect()

    run(scenario)
    reply = Entry.objects.get(kind="outbound")
    assert reply.delivery_status == "sent"
    assert reply.provider_id == f"chat:{reply.public_id}"


def test_history_reloads_and_resumes_after_the_last_seen_entry(inbox, alice):
    async def scenario():
        ws = visitor()
        ready = await hello(ws)
        token = ready["token"]
        first = (await say(ws, "one"))["entry"]
        second = (await say(ws, "two"))["entry"]
        await ws.disconnect()

        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.reply)(conversation, alice, "three")

        # A reload: the whole history, oldest first.
        ws = visitor()
        again = await hello(ws, token=token)
        assert [e["body"] for e in again["entries"]] == ["one", "two", "three"]
        assert again["entries"][0]["id"] == first["id"]
        assert again["visitor"] == ready["visitor"]
        await ws.disconnect()

        # A reconnect: only what came after the last entry it saw.
        ws = visitor()
        resumed = await hello(ws, token=token, after=second["id"])
        assert [e["body"] for e in resumed["entries"]] == ["three"]
        await ws.disconnect()

    run(scenario)


def test_messages_resent_after_a_dropped_socket_are_neither_lost_nor_doubled(inbox):
    sent = [str(uuid.uuid4()) for _ in range(5)]

    async def scenario():
        ws = visitor()
        token = (await hello(ws))["token"]
        for client_id in sent[:3]:
            await say(ws, f"m-{client_id}", client_id)
        # The server drops the socket before the widget saw the last ack.
        await ws.send_json_to({"type": "message", "client_id": sent[3], "body": f"m-{sent[3]}"})
        await ws.disconnect()

        ws = visitor()
        ready = await hello(ws, token=token)
        assert len(ready["entries"]) == 4
        # The widget resends everything it has no ack for: 3 (unsure) and 4 (new).
        for client_id in sent[3:]:
            ack = await say(ws, f"m-{client_id}", client_id)
            assert ack["type"] == "ack"
        await ws.disconnect()

    run(scenario)
    bodies = list(Entry.objects.filter(kind="inbound").values_list("body", flat=True))
    assert bodies == [f"m-{c}" for c in sent]


def test_a_valid_identity_joins_the_contacts_timeline_across_devices(inbox):
    contact = actions.record_inbound(
        InboundMessage(
            inbox_id=inbox.pk,
            channel="chat",
            identities=[IdentityRef("api", "user-42"), IdentityRef("chat", "other-device")],
            body="from my laptop",
        )
    ).entry.contact
    identity = {
        "identifier": "user-42",
        "identifier_hash": identity_hash("user-42", IDENTITY_SECRET),
        "email": "ana@example.com",
        "name": "Ana",
    }

    async def scenario():
        ws = visitor()
        ready = await hello(ws, identity=identity)
        assert ready["type"] == "ready"
        assert [e["body"] for e in ready["entries"]] == ["from my laptop"]
        ack = await say(ws, "and now from my phone")
        assert ack["type"] == "ack"
        await ws.disconnect()

    run(scenario)
    assert Entry.objects.filter(contact=contact, kind="inbound").count() == 2
    assert contact.identities.filter(kind="email", value="ana@example.com").exists()


def test_a_wrong_identity_hash_is_refused_and_nothing_is_trusted(inbox):
    async def scenario():
        ws = visitor()
        frame = await hello(
            ws, identity={"identifier": "user-42", "identifier_hash": "0" * 64, "email": "a@b.co"}
        )
        assert frame["type"] == "error"
        assert frame["code"] == "bad_identity"
        assert "could not be verified" in frame["error"]
        assert (await ws.receive_output(timeout=2))["type"] == "websocket.close"

    run(scenario)
    assert not Contact.objects.exists()
    assert not Identity.objects.exists()


def test_another_visitors_token_or_a_forged_one_is_refused(inbox):
    other_inbox = make_chat_inbox("other")
    forged = VisitorSession(inbox.pk, "someone-else").token()[:-4] + "AAAA"
    foreign = VisitorSession(other_inbox.pk, "visitor-of-another-chat").token()
    bound = VisitorSession(inbox.pk, "v1", identifier="user-42").token()

    async def scenario():
        for token, code in (
            (forged, "bad_token"),
            (foreign, "bad_token"),
            (bound, "session_mismatch"),
        ):
            ws = visitor()
            frame = await hello(ws, token=token)
            assert frame["type"] == "error", frame
            assert frame["code"] == code
            assert frame["error"]
            assert (await ws.receive_output(timeout=2))["type"] == "websocket.close"

    run(scenario)


def test_a_second_tab_opened_before_the_first_message_catches_up_on_its_ping(inbox, alice):
    async def scenario():
        first = visitor()
        token = (await hello(first))["token"]
        second = visitor()
        await hello(second, token=token)
        await say(first, "from the first tab")
        await second.send_json_to({"type": "ping"})
        caught_up = await next_of(second, "entry")
        assert caught_up["entry"]["body"] == "from the first tab"
        await next_of(second, "pong")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.reply)(conversation, alice, "to both tabs")
        assert (await next_of(second, "entry"))["entry"]["body"] == "to both tabs"
        assert (await next_of(first, "entry"))["entry"]["body"] == "to both tabs"
        for ws in (first, second):
            await ws.disconnect()

    run(scenario)


def test_a_visitor_never_sees_another_visitors_messages(inbox, alice):
    async def scenario():
        ana, ben = visitor(), visitor()
        await hello(ana)
        ready_ben = await hello(ben)
        await say(ana, "ana's secret")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.reply)(conversation, alice, "for ana only")
        assert (await next_of(ana, "entry"))["entry"]["body"] == "for ana only"
        assert await ben.receive_nothing(timeout=0.3)
        again = visitor()
        assert (await hello(again, token=ready_ben["token"]))["entries"] == []
        for ws in (ana, ben, again):
            await ws.disconnect()

    run(scenario)


def test_an_oversized_message_is_refused_and_not_stored(inbox):
    async def scenario():
        ws = visitor()
        await hello(ws)
        with override_settings(WIDGET_MAX_MESSAGE_CHARS=100):
            refused = await say(ws, "x" * 101)
            assert refused["type"] == "error"
            assert "too long" in refused["error"]
            huge = await say(ws, "y" * 5000)
            assert huge["code"] == "too_large"
        await ws.disconnect()

    run(scenario)
    assert not Entry.objects.exists()


def test_a_disallowed_origin_is_refused_at_the_handshake(inbox):
    async def scenario():
        for origin in ("https://evil.example", None):
            ws = visitor(origin=origin)
            connected, _ = await ws.connect()
            assert connected
            frame = await ws.receive_json_from()
            assert frame["code"] == "origin_not_allowed"
            assert "not allowed" in frame["error"]
            assert (await ws.receive_output(timeout=2))["type"] == "websocket.close"

    run(scenario)


def test_our_own_pages_may_use_any_chat_inbox(inbox):
    async def scenario():
        ws = visitor(origin="http://localhost:8000", host="localhost:8000")
        assert (await hello(ws))["type"] == "ready"
        await ws.disconnect()
        # Only the very host: another port is another origin.
        ws = visitor(origin="http://localhost:9999", host="localhost:8000")
        await ws.connect()
        assert (await ws.receive_json_from())["code"] == "origin_not_allowed"
        await ws.disconnect()

    run(scenario)


@override_settings(WIDGET_VISITOR_RATE=3)
def test_a_visitor_sending_too_fast_is_slowed_down(inbox):
    async def scenario():
        ws = visitor()
        await hello(ws)
        frames = [await say(ws, f"msg {i}") for i in range(4)]
        assert [f["type"] for f in frames] == ["ack", "ack", "ack", "error"]
        assert "too fast" in frames[-1]["error"]
        await ws.disconnect()

    run(scenario)
    assert Entry.objects.count() == 3


def test_resolving_shows_the_survey_and_the_rating_is_stored(inbox, alice):
    async def scenario():
        ws = visitor()
        await hello(ws)
        conversation_id = (await say(ws, "thanks!"))["entry"]["conversation"]
        await ws.send_json_to({"type": "csat", "conversation": conversation_id, "score": 5})
        early = await next_of(ws, "error")
        assert "once it is resolved" in early["error"]

        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.set_status)(conversation, alice, "resolved")
        assert (await next_of(ws, "conversation"))["status"] == "resolved"
        await ws.send_json_to(
            {"type": "csat", "conversation": conversation_id, "score": 4, "comment": "quick"}
        )
        assert (await next_of(ws, "csat_ok"))["conversation"] == conversation_id
        await ws.disconnect()

    run(scenario)
    from kpi.models import SurveyResponse

    response = SurveyResponse.objects.get()
    assert (response.survey, response.score, response.comment) == ("csat", 4, "quick")
    assert response.channel == "chat"


def test_the_visitor_reading_a_reply_marks_it_read(inbox, alice):
    async def scenario():
        ws = visitor()
        await hello(ws)
        await say(ws, "hi")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.reply)(conversation, alice, "hello!")
        reply = await next_of(ws, "entry")
        await ws.send_json_to({"type": "read", "entry": reply["entry"]["id"]})
        await ws.send_json_to({"type": "ping"})
        await next_of(ws, "pong")
        await ws.disconnect()

    run(scenario)
    assert Entry.objects.get(kind="outbound").delivery_status == "read"


def test_prechat_requires_its_fields_and_never_joins_another_contacts_timeline(team):
    inbox = make_chat_inbox(team=team, prechat_fields="name*,email*,company")
    owner = actions.resolve_contact([IdentityRef("email", "ana@example.com")], "Ana")

    async def scenario():
        ws = visitor()
        await hello(ws)
        await ws.send_json_to({"type": "prechat", "fields": {"name": "Mallory"}})
        missing = await next_of(ws, "error")
        assert "email" in missing["error"]
        await ws.send_json_to(
            {
                "type": "prechat",
                "fields": {"name": "Mallory", "email": "ANA@example.com", "company": "ACME"},
            }
        )
        await next_of(ws, "prechat_ok")
        await say(ws, "show me Ana's orders")
        await ws.disconnect()

    run(scenario)
    visitor_contact = Contact.objects.exclude(pk=owner.pk).get()
    assert visitor_contact.name == "Mallory"
    assert visitor_contact.attributes["company"] == "ACME"
    assert visitor_contact.attributes["unverified_email"] == "ana@example.com"
    assert not Entry.objects.filter(contact=owner).exists()
    assert inbox.pk


def test_only_chat_messages_and_status_reach_the_widget(inbox, alice):
    async def scenario():
        ws = visitor()
        await hello(ws)
        await say(ws, "hi")
        conversation = await database_sync_to_async(Conversation.objects.get)()
        await database_sync_to_async(actions.add_note)(conversation, alice, "internal note")
        await database_sync_to_async(actions.set_priority)(conversation, alice, "high")
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    run(scenario)


def test_a_socket_that_never_says_hello_is_closed(inbox):
    async def scenario():
        with override_settings(WIDGET_HELLO_TIMEOUT=0):
            ws = visitor()
            await ws.connect()
            frame = await ws.receive_json_from(timeout=2)
            assert frame["code"] == "no_hello"
            await ws.disconnect()

    run(scenario)


def test_the_server_can_drop_a_visitors_sockets(inbox):
    from widget.actions import drop_visitor

    async def scenario():
        ws = visitor()
        await hello(ws)
        await say(ws, "hi")
        contact = await database_sync_to_async(Contact.objects.get)()
        await database_sync_to_async(drop_visitor)(contact.pk)
        closed = await ws.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4000}

    run(scenario)


def test_an_unknown_inbox_is_refused(inbox):
    async def scenario():
        ws = visitor(slug="nope")
        await ws.connect()
        assert (await ws.receive_json_from())["code"] == "no_inbox"
        await ws.disconnect()

    run(scenario)


def test_frames_and_events_do_not_queue_on_the_sync_thread(inbox, alice):
    # Channels' dispatch closes old database connections on the process's one sync
    # thread before every event; this consumer's database work does it on its own.
    from unittest import mock

    from channels import consumer

    async def scenario():
        ws = visitor()
        with mock.patch.object(consumer, "aclose_old_connections", autospec=True) as hop:
            await hello(ws)
            await say(ws, "Hi")
            await ws.send_json_to({"type": "ping"})
            assert (await next_of(ws, "pong"))["type"] == "pong"
        hop.assert_not_called()
        await ws.disconnect()

    run(scenario)
