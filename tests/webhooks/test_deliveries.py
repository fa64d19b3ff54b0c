from __future__ import annotations

import json
from typing import Any

import httpx
from django.contrib.admin.sites import site
from django.test import override_settings
from django.urls import reverse

from conversations import actions as core
from conversations.models import Contact, Conversation
from helpdesk.models import Agent
from tests.base import HelpdeskTestCase
from webhooks import signing
from webhooks.models import Delivery, Event, Subscription

SECRET = "whsec_test"


class Receiver:
    """A customer's endpoint: checks every signature, then answers as told."""

    def __init__(self, secret: str = SECRET, fail: int = 0) -> None:
        self.secret = secret
        self.fail = fail
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "crm.example.com":
            return httpx.Response(200, json={"ok": True})  # another provider (API channel)
        body = request.content
        header = request.headers["X-Helpdesk-Signature"]
        if not signing.verify(self.secret, header, body):
            self.bad_signatures += 1
            return httpx.Response(401, text="bad signature")
        if self.fail > 0:
            self.fail -= 1
            return httpx.Response(503, text="down for maintenance")
        data = json.loads(body)
        self.assertions(request, data)
        self.received.append(data)
        return httpx.Response(204)

    def assertions(self, request: httpx.Request, data: dict[str, Any]) -> None:
        assert request.headers["X-Helpdesk-Event"] == data["event"]
        assert request.headers["X-Helpdesk-Delivery"] == data["id"]

    def events(self) -> list[str]:
        return [d["event"] for d in self.received]


class WebhookTestCase(HelpdeskTestCase):
    def subscribe(self, *events: str, secret: str = SECRET) -> Subscription:
        return Subscription.objects.create(
            url="https://crm.example.com/hooks", events=list(events), secret=secret
        )

    def webhook_requests(self) -> list[httpx.Request]:
        return [r for r in self.http.requests if r.url.host == "crm.example.com"]


class DeliveryTests(WebhookTestCase):
    def test_a_receiver_checks_the_signature_of_every_event(self) -> None:
        self.subscribe(*Event.values)
        receiver = Receiver()
        self.http.responder = receiver
        self.post_api({"id": "m1", "contact": {"email": "ana@example.com"}, "body": "Hi"})
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            core.set_status(conversation, self.alice, "pending")
        with self.captureOnCommitCallbacks(execute=True):
            core.assign(conversation, self.alice, assignee=self.bob)
        other = Contact.objects.create(name="Old Ana")
        with self.captureOnCommitCallbacks(execute=True):
            core.merge_contacts(other, conversation.contact, self.alice)
        self.assertEqual(receiver.bad_signatures, 0)
        events = receiver.events()
        for event in (
            "contact.created",
            "conversation.created",
            "message.created",
            "conversation.status_changed",
            "conversation.assigned",
            "contact.merged",
        ):
            self.assertIn(event, events)
        message = next(d for d in receiver.received if d["event"] == "message.created")
        self.assertEqual(message["data"]["message"]["body"], "Hi")
        self.assertEqual(message["data"]["message"]["kind"], "inbound")
        status = next(d for d in receiver.received if d["event"] == "conversation.status_changed")
        self.assertEqual((status["data"]["old"], status["data"]["new"]), ("open", "pending"))
        assigned = next(d for d in receiver.received if d["event"] == "conversation.assigned")
        self.assertEqual(assigned["data"]["new"], self.bob.pk)
        self.assertTrue(
            all(d.status == "succeeded" for d in Delivery.objects.all()),
            list(Delivery.objects.values_list("event", "status", "error")),
        )

    def test_only_subscribed_events_are_sent(self) -> None:
        self.subscribe("conversation.assigned")
        receiver = Receiver()
        self.http.responder = receiver
        self.post_api({"id": "m1", "contact": {"email": "ana@example.com"}, "body": "Hi"})
        self.assertEqual(receiver.events(), [])
        self.assertFalse(Delivery.objects.exists())

    def test_survey_answers_are_sent(self) -> None:
        from conversations import signals

        self.subscribe("survey.answered")
        receiver = Receiver()
        self.http.responder = receiver
        self.post_api({"id": "m1", "contact": {"email": "ana@example.com"}, "body": "Hi"})
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            signals.survey_answered.send(
                sender=None, conversation_id=conversation.pk, entry_id=1, survey="csat", score=4
            )
        [answer] = receiver.received
        self.assertEqual(answer["data"]["score"], 4)
        self.assertEqual(answer["data"]["conversation"]["id"], conversation.pk)

    def test_a_forged_or_old_signature_does_not_verify(self) -> None:
        body = b'{"a":1}'
        header = signing.sign(SECRET, body, timestamp=1_000_000)
        self.assertTrue(signing.verify(SECRET, header, body, now=1_000_100))
        self.assertFalse(signing.verify(SECRET, header, body, now=1_000_000 + 301))
        self.assertFalse(signing.verify("other", header, body, now=1_000_100))
        self.assertFalse(signing.verify(SECRET, header, b'{"a":2}', now=1_000_100))
        self.assertFalse(signing.verify(SECRET, "garbage", body))


class FailureTests(WebhookTestCase):
    def assign_once(self) -> None:
        conversation = Conversation.objects.get()
        with self.captureOnCommitCallbacks(execute=True):
            core.assign(conversation, self.alice, assignee=None)

    def setUp(self) -> None:
        super().setUp()
        self.post_api({"id": "m1", "contact": {"email": "ana@example.com"}, "body": "Hi"})

    def test_a_receiver_that_recovers_gets_the_event_on_a_retry(self) -> None:
        subscription = self.subscribe("conversation.assigned")
        receiver = Receiver(fail=2)
        self.http.responder = receiver
        self.assign_once()
        delivery = Delivery.objects.get()
        self.assertEqual(delivery.status, "succeeded")
        self.assertEqual(delivery.attempts, 3)
        self.assertEqual(delivery.response_status, 204)
        self.assertEqual(len(receiver.received), 1)
        subscription.refresh_from_db()
        self.assertTrue(subscription.is_active)
        self.assertEqual(subscription.consecutive_failures, 0)

    @override_settings(WEBHOOK_DISABLE_AFTER_FAILURES=1)
    def test_a_receiver_that_fails_3_times_gets_retries_then_a_disabled_subscription(
        self,
    ) -> None:
        subscription = self.subscribe("conversation.assigned")
        self.http.responder = Receiver(fail=1000)
        self.assign_once()
        self.assertEqual(len(self.webhook_requests()), 3)
        delivery = Delivery.objects.get()
        self.assertEqual(delivery.status, "failed")
        self.assertEqual(delivery.attempts, 3)
        self.assertEqual(delivery.response_status, 503)
        self.assertEqual(delivery.response_excerpt, "down for maintenance")
        self.assertIn("503", delivery.error)
        subscription.refresh_from_db()
        self.assertFalse(subscription.is_active)
        self.assertIsNotNone(subscription.disabled_at)
        self.assertIn("503", subscription.disabled_reason)
        # Disabled: later events are not even logged.
        self.assign_once()
        self.assertEqual(len(self.webhook_requests()), 3)
        self.assertEqual(Delivery.objects.count(), 1)

    def test_by_default_three_failed_deliveries_in_a_row_disable_it(self) -> None:
        subscription = self.subscribe("conversation.assigned")
        self.http.responder = Receiver(fail=1000)
        for expected in (1, 2):
            self.assign_once()
            subscription.refresh_from_db()
            self.assertEqual(subscription.consecutive_failures, expected)
            self.assertTrue(subscription.is_active)
        self.assign_once()
        subscription.refresh_from_db()
        self.assertFalse(subscription.is_active)
        self.assertIn("3 consecutive failed deliveries", subscription.disabled_reason)
        self.assertEqual(len(self.webhook_requests()), 9)

    def test_network_errors_are_logged_and_retried(self) -> None:
        self.subscribe("conversation.assigned")

        def refuse(request: httpx.Request) -> httpx.Response:
            if request.url.host == "crm.example.com":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200)

        self.http.responder = refuse
        self.assign_once()
        delivery = Delivery.objects.get()
        self.assertEqual(delivery.status, "failed")
        self.assertEqual(delivery.attempts, 3)
        self.assertIsNone(delivery.response_status)
        self.assertIn("ConnectError", delivery.error)

    def test_running_the_task_again_sends_nothing_twice(self) -> None:
        from webhooks import tasks

        self.subscribe("conversation.assigned")
        receiver = Receiver()
        self.http.responder = receiver
        self.assign_once()
        tasks.deliver.delay(Delivery.objects.get().pk)
        self.assertEqual(len(receiver.received), 1)


class AdminTests(WebhookTestCase):
    def test_admins_see_the_delivery_log_and_the_disable_reason(self) -> None:
        admin = Agent.objects.create_superuser("root@example.org", "password")
        subscription = self.subscribe("conversation.assigned")
        subscription.is_active = False
        subscription.disabled_reason = "Disabled after 3 consecutive failed deliveries"
        subscription.save()
        Delivery.objects.create(
            subscription=subscription,
            event="conversation.assigned",
            status="failed",
            attempts=3,
            response_status=503,
            error="The endpoint answered HTTP 503.",
        )
        self.client.force_login(admin)
        page = self.client.get(reverse("admin:webhooks_subscription_changelist"))
        self.assertContains(page, "Disabled after 3 consecutive failed deliveries")
        page = self.client.get(reverse("admin:webhooks_delivery_changelist"))
        self.assertContains(page, "The endpoint answered HTTP 503.")
        self.assertIn(Subscription, site._registry)


class SweepTests(WebhookTestCase):
    def test_the_sweep_delivers_what_a_lost_worker_left_behind(self) -> None:
        from datetime import timedelta

        from django.utils import timezone

        from webhooks import actions as webhook_actions

        receiver = Receiver()
        self.http.responder = receiver
        subscription = self.subscribe("conversation.assigned")
        long_ago = timezone.now() - timedelta(hours=1)
        stuck = Delivery.objects.create(
            subscription=subscription,
            event="conversation.assigned",
            status="sending",
            attempts=1,
            last_attempt_at=long_ago,
        )
        never_sent = Delivery.objects.create(
            subscription=subscription, event="conversation.assigned", created_at=long_ago
        )
        fresh = Delivery.objects.create(subscription=subscription, event="conversation.assigned")
        self.assertEqual(webhook_actions.sweep(), 2)
        stuck.refresh_from_db()
        never_sent.refresh_from_db()
        fresh.refresh_from_db()
        self.assertEqual((stuck.status, stuck.attempts), ("succeeded", 2))
        self.assertEqual(never_sent.status, "succeeded")
        self.assertEqual(fresh.status, "pending")  # its own task is still on its way
        self.assertEqual(len(receiver.received), 2)
