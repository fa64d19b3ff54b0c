"""The real parts: concurrent writers on the real database, the Redis channel layer
and a real Celery worker consuming from Redis. Runs on SQLite by default and on
PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set (CI does both)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels import layers
from django.db import connection, transaction
from django.test import Client

from channels_in import actions as channel_actions
from channels_in.adapters.api import sign
from channels_in.models import InboundEvent
from conversations import actions, realtime
from conversations.identities import normalize
from conversations.inbound import InboundMessage
from conversations.models import Contact, Conversation, Entry
from helpdesk.celery import app as celery_app
from helpdesk.models import Agent

pytestmark = pytest.mark.django_db(transaction=True)


def in_threads(n: int, target: Callable[[int], Any]) -> list[BaseException]:
    """Run target(i) in n threads released at once; return the errors raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@pytest.fixture
def inbox() -> Any:
    return channel_actions.create_inbox("api", "race", values={"secret": "s"})


def message(inbox: Any, provider_id: str, body: str = "hi") -> InboundMessage:
    return InboundMessage(
        inbox_id=inbox.pk,
        channel="sms",
        identities=[normalize("phone", "+385 91 555 0101")],
        provider_id=provider_id,
        body=body,
    )


def test_two_processes_recording_the_same_message_write_it_once(inbox):
    errors = in_threads(4, lambda i: actions.record_inbound(message(inbox, "SM-same")))
    assert errors == []
    assert Entry.objects.filter(kind="inbound").count() == 1
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_new_customer_writing_twice_at_once_gets_one_contact_and_one_conversation(inbox):
    errors = in_threads(4, lambda i: actions.record_inbound(message(inbox, f"SM-{i}")))
    assert errors == []
    assert Entry.objects.filter(kind="inbound").count() == 4
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_the_same_event_processed_by_two_workers_at_once_is_processed_once(inbox):
    body = json.dumps({"id": "e1", "contact": {"email": "race@example.com"}, "body": "x"}).encode()
    with transaction.atomic():
        event, _ = channel_actions.store_event(inbox, "e1", "", body, {})
    # store_event enqueued processing on commit (eager in tests); run it twice more, racing
    errors = in_threads(3, lambda i: channel_actions.process_event(event.pk))
    assert errors == []
    event.refresh_from_db()
    assert event.status == "processed"
    assert Entry.objects.filter(kind="inbound").count() == 1


@pytest.fixture
def redis_layer(redis_url: str, settings: Any) -> Iterator[Any]:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }
    layers.channel_layers.backends = {}
    yield layers.get_channel_layer()
    layers.channel_layers.backends = {}


def test_the_redis_layer_delivers_after_commit_and_never_for_a_rollback(inbox, redis_layer):
    class Boom(Exception):
        pass

    def writes() -> None:
        with pytest.raises(Boom), transaction.atomic():
            actions.record_inbound(message(inbox, "SM-rolled-back"))
            raise Boom
        actions.record_inbound(message(inbox, "SM-kept"))

    async def scenario() -> list[dict[str, Any]]:
        # The pub/sub layer is per event loop: subscribe, write and listen in one loop.
        name = await redis_layer.new_channel()
        await redis_layer.group_add(realtime.AGENTS_GROUP, name)
        await sync_to_async(writes)()
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(redis_layer.receive(name), 0.5))
            except TimeoutError:
                return got

    events = async_to_sync(scenario)()
    assert [e["type"] for e in events] == ["conversation.created"]
    assert Entry.objects.filter(kind="inbound").count() == 1


@pytest.fixture
def celery_worker(redis_url: str) -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    old = {k: celery_app.conf[k] for k in ("task_always_eager", "broker_url")}
    celery_app.conf.update(task_always_eager=False, broker_url=redis_url)
    _forget_connections()
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        celery_app.conf.update(**old)
        _forget_connections()


def _forget_connections() -> None:
    # Connections and producers are cached per app; drop those bound to the old broker.
    from kombu import pools

    pools.reset()
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


def test_a_signed_webhook_goes_through_redis_and_a_real_worker(inbox, celery_worker):
    payload = {"id": "w1", "contact": {"email": "real@example.com"}, "body": "via the worker"}
    body = json.dumps(payload).encode()
    response = Client().post(
        "/hooks/api/race/",
        data=body,
        content_type="application/json",
        HTTP_X_HELPDESK_SIGNATURE=sign("s", body),
    )
    assert response.status_code == 200
    # acknowledged means stored, before any worker ran
    assert InboundEvent.objects.filter(provider_event_id="w1").exists()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if InboundEvent.objects.filter(provider_event_id="w1", status="processed").exists():
            break
        time.sleep(0.1)
    assert Entry.objects.get(kind="inbound").body == "via the worker"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
def test_a_locked_contact_does_not_block_a_reply_on_its_conversation(inbox):
    """A customer message holds its contact's row lock while an agent's reply commits an
    entry pointing at that contact. PostgreSQL checks that foreign key with FOR KEY
    SHARE; our locks must not conflict with it (FOR NO KEY UPDATE), or the two
    transactions deadlock as soon as the message also waits for the conversation."""
    recorded = actions.record_inbound(message(inbox, "SM-first"))
    contact_id = recorded.entry.contact_id
    locked, release = threading.Event(), threading.Event()

    def hold_contact_lock() -> None:
        try:
            with transaction.atomic():
                from conversations import locks

                locks.lock_contact(contact_id)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_contact_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            agent = Agent.objects.create_user("lock@example.org")
            actions.add_note(recorded.entry.conversation, agent, "written while the lock is held")
    finally:
        release.set()
        holder.join(10)
    assert Entry.objects.filter(kind="note").count() == 1
