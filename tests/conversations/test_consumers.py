from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test.utils import CaptureQueriesContext

from conversations import actions
from conversations.consumers import AgentConsumer
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Entry
from helpdesk.models import Agent
from tests.base import HelpdeskTestCase


class Socket:
    """WebsocketCommunicator for one signed-in agent, with small helpers."""

    def __init__(self, agent: Agent) -> None:
        self.communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        self.communicator.scope["user"] = agent

    async def connect(self) -> Any:
        connected, _ = await self.communicator.connect()
        assert connected
        return await self.receive()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_json_to(frame)

    async def receive(self, timeout: float = 2) -> Any:
        return await self.communicator.receive_json_from(timeout)

    async def receive_until(self, kind: str, timeout: float = 2) -> Any:
        for _ in range(20):
            frame = await self.receive(timeout)
            if frame["type"] == kind:
                return frame
        raise AssertionError(f"no {kind} frame")

    async def nothing(self) -> bool:
        return bool(await self.communicator.receive_nothing(0.2))

    async def close(self) -> None:
        await self.communicator.disconnect()


class ConsumerTestCase(HelpdeskTestCase):
    """Each test runs one async scenario in one event loop (the communicators live in
    it); ORM work inside goes through database_sync_to_async, in this thread."""

    def run_scenario(self, scenario: Callable[[], Awaitable[None]]) -> None:
        sockets: list[Socket] = []
        self.sockets = sockets

        async def wrapper() -> None:
            try:
                await scenario()
            finally:
                for socket in sockets:
                    await socket.close()

        # Channels closes "old" connections around every database_sync_to_async call;
        # inside a TestCase transaction that would close the test's own connection.
        with mock.patch("channels.db.close_old_connections"):
            async_to_sync(wrapper)()

    async def socket(self, agent: Agent) -> Socket:
        socket = Socket(agent)
        self.sockets.append(socket)
        hello = await socket.connect()
        self.assertEqual(hello["type"], "hello")
        return socket

    def inbound_now(self, body: str, provider_id: str | None = None) -> Entry:
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            channel="api",
            identities=[IdentityRef("email", "ana@example.com")],
            team_id=self.support.pk,
            body=body,
            provider_id=provider_id,
        )
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg).entry

    async def inbound(self, body: str, provider_id: str | None = None) -> Entry:
        return await database_sync_to_async(self.inbound_now)(body, provider_id)


class CollisionDetectionTests(ConsumerTestCase):
    def test_a_second_agent_sees_who_is_viewing_and_replying(self):
        conversation = self.inbound_now("hi").conversation

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send({"type": "subscribe", "conversation": conversation.pk})
            self.assertEqual((await alice.receive())["type"], "subscribed")
            bob = await self.socket(self.bob)
            await bob.send({"type": "subscribe", "conversation": conversation.pk})
            self.assertEqual(
                (await bob.receive_until("subscribed"))["conversation"], conversation.pk
            )
            # alice learns bob arrived; bob learns alice was already there
            seen_by_alice = await alice.receive_until("agent.activity")
            self.assertEqual((seen_by_alice["name"], seen_by_alice["state"]), ("Bob", "viewing"))
            seen_by_bob = await bob.receive_until("agent.activity")
            self.assertEqual((seen_by_bob["name"], seen_by_bob["state"]), ("Alice", "viewing"))
            self.assertNotIn("channel", seen_by_bob)

            await alice.send(
                {"type": "activity", "conversation": conversation.pk, "state": "replying"}
            )
            replying = await bob.receive_until("agent.activity")
            self.assertEqual((replying["name"], replying["state"]), ("Alice", "replying"))

            await alice.close()
            self.sockets.remove(alice)
            left = await bob.receive_until("agent.activity")
            self.assertEqual((left["name"], left["state"]), ("Alice", "left"))

        self.run_scenario(scenario)

    def test_an_agent_never_sees_their_own_activity(self):
        conversation = self.inbound_now("hi").conversation

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send({"type": "subscribe", "conversation": conversation.pk})
            await alice.receive_until("subscribed")
            await alice.send(
                {"type": "activity", "conversation": conversation.pk, "state": "replying"}
            )
            self.assertTrue(await alice.nothing())

        self.run_scenario(scenario)

    def test_activity_needs_a_subscription_and_a_known_state(self):
        conversation = self.inbound_now("hi").conversation

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send(
                {"type": "activity", "conversation": conversation.pk, "state": "replying"}
            )
            self.assertEqual((await alice.receive())["type"], "error")
            await alice.send({"type": "subscribe", "conversation": conversation.pk})
            await alice.receive_until("subscribed")
            await alice.send(
                {"type": "activity", "conversation": conversation.pk, "state": "dancing"}
            )
            self.assertEqual((await alice.receive())["type"], "error")

        self.run_scenario(scenario)

    def test_an_outsider_cannot_subscribe(self):
        conversation = self.inbound_now("hi").conversation

        async def scenario() -> None:
            charlie = await self.socket(self.charlie)
            await charlie.send({"type": "subscribe", "conversation": conversation.pk})
            self.assertEqual((await charlie.receive())["type"], "error")

        self.run_scenario(scenario)


class CatchUpTests(ConsumerTestCase):
    def test_it_returns_only_entries_after_the_last_one_seen(self):
        first = self.inbound_now("one", "p1")

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            # the socket was down while two more messages arrived
            second = await self.inbound("two", "p2")
            third = await self.inbound("three", "p3")
            await alice.send(
                {
                    "type": "catch_up",
                    "conversation": first.conversation_id,
                    "after": str(first.public_id),
                }
            )
            frame = await alice.receive_until("catch_up")
            self.assertEqual(
                [e["id"] for e in frame["entries"]], [str(second.public_id), str(third.public_id)]
            )
            self.assertIn("three", frame["entries"][1]["html"])
            self.assertIn(f'id="e-{third.public_id}"', frame["entries"][1]["html"])

        self.run_scenario(scenario)

    def test_it_refreshes_replies_whose_delivery_moved_meanwhile(self):
        first = self.inbound_now("one", "p1")
        with self.captureOnCommitCallbacks(execute=True):
            reply = actions.reply(first.conversation, self.alice, "On it", via="api")
        reply.refresh_from_db()
        self.assertEqual(reply.delivery_status, "sent")

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send(
                {
                    "type": "catch_up",
                    "conversation": first.conversation_id,
                    "after": str(reply.public_id),
                    "also": [str(reply.public_id), "not-a-uuid"],
                }
            )
            frame = await alice.receive_until("catch_up")
            self.assertEqual([e["id"] for e in frame["entries"]], [str(reply.public_id)])
            self.assertEqual(frame["entries"][0]["delivery_status"], "sent")

        self.run_scenario(scenario)

    def test_catch_up_costs_the_same_queries_for_few_or_many_entries(self):
        first = self.inbound_now("one", "p1")
        frame = {"type": "catch_up", "conversation": first.conversation_id, "after": ""}
        database = connections["default"]  # the wrapper itself, not the per-context proxy

        def more() -> None:
            for i in range(15):
                self.inbound_now(f"more {i}", f"m{i}")
                actions.add_note(first.conversation, self.bob, f"note {i}")

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send(frame)
            await alice.receive_until("catch_up")
            for expected in (1, 31):
                if expected == 31:
                    await database_sync_to_async(more)()
                queries = CaptureQueriesContext(database)
                await database_sync_to_async(queries.__enter__)()
                await alice.send(frame)
                self.assertEqual(len((await alice.receive_until("catch_up"))["entries"]), expected)
                await database_sync_to_async(queries.__exit__)(None, None, None)
                self.assertEqual(len(queries.captured_queries), 3, queries.captured_queries)

        self.run_scenario(scenario)

    def test_catch_up_of_a_hidden_conversation_is_refused(self):
        first = self.inbound_now("one", "p1")

        async def scenario() -> None:
            charlie = await self.socket(self.charlie)
            await charlie.send(
                {"type": "catch_up", "conversation": first.conversation_id, "after": ""}
            )
            self.assertEqual((await charlie.receive())["type"], "error")

        self.run_scenario(scenario)


class LiveEventTests(ConsumerTestCase):
    def test_new_messages_reach_the_open_conversation_and_the_list(self):
        first = self.inbound_now("one", "p1")

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send({"type": "subscribe", "conversation": first.conversation_id})
            await alice.receive_until("subscribed")
            await self.inbound("two", "p2")
            created = await alice.receive_until("entry.created")
            self.assertEqual(created["entry"]["body"], "two")
            updated = await alice.receive_until("conversation.updated")
            self.assertEqual(updated["conversation"]["id"], first.conversation_id)

        self.run_scenario(scenario)


class PassedThroughEventTests(ConsumerTestCase):
    def test_live_events_reach_the_browser_without_a_hop_to_the_sync_thread(self):
        conversation = self.inbound_now("hi").conversation

        async def scenario() -> None:
            alice = await self.socket(self.alice)
            await alice.send({"type": "subscribe", "conversation": conversation.pk})
            await alice.receive_until("subscribed")
            # The sync handler is the slow path: passed-through events skip it.
            with mock.patch.object(AgentConsumer, "entry_created", autospec=True) as handler:
                await self.inbound("again")
                frame = await alice.receive_until("entry.created")
            self.assertEqual(frame["entry"]["body"], "again")
            handler.assert_not_called()

        self.run_scenario(scenario)
