from __future__ import annotations

import json

import httpx

from channels_in.adapters.api import sign
from channels_in.models import InboundEvent
from conversations.models import Contact, Conversation, Entry
from tests.base import API_SECRET, HelpdeskTestCase

PAYLOAD = {
    "id": "order-1001-msg-1",
    "contact": {"name": "Ana Kovač", "email": "Ana@Example.com", "phone": "+385 91 123 4567"},
    "body": "Where is my order?",
    "timestamp": "2026-03-02T09:15:00+01:00",
}


class SignedWebhookTests(HelpdeskTestCase):
    def test_a_signed_post_lands_on_the_timeline(self):
        response = self.post_api(PAYLOAD)
        self.assertEqual(response.status_code, 200)
        entry = Entry.objects.get(kind="inbound")
        self.assertEqual(entry.body, "Where is my order?")
        self.assertEqual(entry.channel, "api")
        self.assertEqual(entry.provider_id, "order-1001-msg-1")
        self.assertEqual(entry.occurred_at.isoformat(), "2026-03-02T08:15:00+00:00")
        contact = Contact.objects.get()
        self.assertEqual(contact.name, "Ana Kovač")
        self.assertEqual(
            sorted(contact.identities.values_list("value", flat=True)),
            ["+385911234567", "ana@example.com"],
        )
        event = InboundEvent.objects.get()
        self.assertEqual(event.status, "processed")
        self.assertEqual(event.contact, contact)
        self.assertEqual(json.loads(bytes(event.body)), PAYLOAD)

    def test_the_same_id_replayed_is_one_message(self):
        for _ in range(3):
            self.assertEqual(self.post_api(PAYLOAD).status_code, 200)
        self.assertEqual(InboundEvent.objects.count(), 1)
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)
        self.assertEqual(Conversation.objects.count(), 1)

    def test_the_same_id_with_a_different_body_is_still_one_message(self):
        self.post_api(PAYLOAD)
        self.post_api({**PAYLOAD, "body": "changed"})
        self.assertEqual(Entry.objects.get(kind="inbound").body, "Where is my order?")


class RefusedWebhookTests(HelpdeskTestCase):
    def assert_nothing_stored(self):
        self.assertFalse(InboundEvent.objects.exists())
        self.assertFalse(Entry.objects.exists())
        self.assertFalse(Contact.objects.exists())

    def test_an_unsigned_post_is_refused(self):
        response = self.post_api(PAYLOAD, secret=None)
        self.assertEqual(response.status_code, 403)
        self.assertIn("missing", response.json()["error"])
        self.assert_nothing_stored()

    def test_a_post_signed_with_another_secret_is_refused(self):
        self.assertEqual(self.post_api(PAYLOAD, secret="guess").status_code, 403)
        self.assert_nothing_stored()

    def test_a_signature_of_another_body_is_refused(self):
        body = json.dumps(PAYLOAD).encode()
        tampered = body.replace(b"order?", b"order!")
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                "/hooks/api/shop/",
                data=tampered,
                content_type="application/json",
                HTTP_X_HELPDESK_SIGNATURE=sign(API_SECRET, body),
            )
        self.assertEqual(response.status_code, 403)
        self.assert_nothing_stored()

    def test_a_bare_hex_signature_without_prefix_is_refused(self):
        body = json.dumps(PAYLOAD).encode()
        response = self.client.post(
            "/hooks/api/shop/",
            data=body,
            content_type="application/json",
            HTTP_X_HELPDESK_SIGNATURE=sign(API_SECRET, body).removeprefix("sha256="),
        )
        self.assertEqual(response.status_code, 403)

    def test_an_unknown_inbox_is_404(self):
        self.assertEqual(self.post_api(PAYLOAD, slug="nope").status_code, 404)

    def test_get_is_not_allowed(self):
        self.assertEqual(self.client.get("/hooks/api/shop/").status_code, 405)

    def test_an_inbox_without_secret_fails_closed(self):
        from channels_in.actions import create_inbox

        create_inbox("api", "nosecret")
        self.assertEqual(self.post_api(PAYLOAD, slug="nosecret", secret="").status_code, 403)
        self.assert_nothing_stored()


class MalformedWebhookTests(HelpdeskTestCase):
    def assert_400(self, payload=None, raw=None, fragment=""):
        response = self.post_api(payload, raw=raw)
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn(fragment, response.json()["error"])
        self.assertFalse(InboundEvent.objects.exists())

    def test_malformed_json_is_400(self):
        self.assert_400(raw=b"{not json", fragment="not valid JSON")

    def test_a_missing_id_is_400(self):
        self.assert_400({**PAYLOAD, "id": ""}, fragment="'id'")

    def test_a_missing_body_is_400(self):
        self.assert_400({k: v for k, v in PAYLOAD.items() if k != "body"}, fragment="'body'")

    def test_a_contact_without_identity_is_400(self):
        self.assert_400({**PAYLOAD, "contact": {"name": "x"}}, fragment="at least one")

    def test_a_bad_phone_is_400(self):
        self.assert_400({**PAYLOAD, "contact": {"phone": "call me"}}, fragment="contact.phone")

    def test_a_naive_timestamp_is_400(self):
        self.assert_400({**PAYLOAD, "timestamp": "2026-03-02T09:15:00"}, fragment="time zone")

    def test_a_json_array_is_400(self):
        self.assert_400([1, 2], fragment="object")


class OutboundTests(HelpdeskTestCase):
    def setUp(self):
        self.post_api(PAYLOAD)
        self.conversation = Conversation.objects.get()

    def reply(self, body="We shipped it"):
        from conversations import actions

        with self.captureOnCommitCallbacks(execute=True):
            return actions.reply(self.conversation, self.alice, body)

    def test_a_reply_is_posted_signed_to_the_callback_url(self):
        self.http.responder = lambda r: httpx.Response(200, json={"id": "shop-msg-77"})
        entry = self.reply()
        self.assertEqual(len(self.http.requests), 1)
        request = self.http.requests[0]
        self.assertEqual(str(request.url), "https://shop.example.com/helpdesk")
        self.assertEqual(request.headers["X-Helpdesk-Signature"], sign(API_SECRET, request.content))
        sent = json.loads(request.content)
        self.assertEqual(sent["body"], "We shipped it")
        self.assertEqual(sent["contact"]["email"], "ana@example.com")
        self.assertEqual(sent["conversation"], self.conversation.pk)
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.provider_id, "shop-msg-77")
        self.assertEqual(entry.attempts, 1)

    def test_a_rejected_reply_fails_at_once_and_shows_on_the_timeline(self):
        self.http.responder = lambda r: httpx.Response(422, text="unknown customer")
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertIn("HTTP 422", entry.delivery_error)
        self.assertEqual(entry.attempts, 1)
        self.assertTrue(Entry.objects.filter(event="delivery_failed").exists())

    def test_a_flaky_receiver_is_retried_with_backoff_until_it_works(self):
        answers = iter([httpx.Response(503), httpx.Response(503), httpx.Response(200, json={})])
        self.http.responder = lambda r: next(answers)
        entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")
        self.assertEqual(entry.attempts, 3)
        self.assertEqual(len(self.http.requests), 3)

    def test_a_dead_receiver_ends_failed_after_the_last_attempt(self):
        self.http.responder = lambda r: httpx.Response(503)
        with self.settings(OUTBOUND_MAX_ATTEMPTS=3):
            entry = self.reply()
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "failed")
        self.assertEqual(entry.attempts, 3)
        self.assertIn("503", entry.delivery_error)

    def test_the_agent_can_retry_a_failed_reply(self):
        from conversations import actions

        self.http.responder = lambda r: httpx.Response(400)
        entry = self.reply()
        self.http.responder = lambda r: httpx.Response(200, json={})
        with self.captureOnCommitCallbacks(execute=True):
            actions.retry_delivery(entry, self.alice)
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent")

    def test_the_send_task_run_twice_sends_once(self):
        from channels_in.tasks import send_outbound

        entry = self.reply()
        send_outbound.apply(args=(entry.pk,))
        self.assertEqual(len(self.http.requests), 1)


class SubscriptionLookupTests(HelpdeskTestCase):
    def test_one_message_reads_the_subscriptions_at_most_once(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            self.post_api(PAYLOAD)
        reads = [q for q in ctx.captured_queries if '"webhooks_subscription"' in q["sql"]]
        self.assertLessEqual(len(reads), 1)


class InboxLookupTests(HelpdeskTestCase):
    def test_a_burst_of_webhooks_reads_the_inbox_once(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.post_api(PAYLOAD)
        with CaptureQueriesContext(connection) as queries:
            for i in range(3):
                self.post_api({**PAYLOAD, "id": f"again-{i}"})
        lookups = [q for q in queries if 'FROM "channels_in_inbox" WHERE' in q["sql"]]
        self.assertEqual(lookups, [])

    def test_a_removed_inbox_refuses_at_once(self):
        from channels_in import actions as channel_actions

        self.assertEqual(self.post_api(PAYLOAD).status_code, 200)
        channel_actions.remove_inbox(self.api_inbox)
        self.assertEqual(self.post_api({**PAYLOAD, "id": "after"}).status_code, 404)
