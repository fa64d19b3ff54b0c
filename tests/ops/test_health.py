from __future__ import annotations

import time
from unittest import mock

import redis
from django.core.cache import cache
from django.test import override_settings

from helpdesk.tasks import HEARTBEAT_KEY, heartbeat
from tests.base import HelpdeskTestCase
from tests.channels_in.test_api_webhook import PAYLOAD


class HealthTests(HelpdeskTestCase):
    def setUp(self):
        cache.delete(HEARTBEAT_KEY)
        patcher = mock.patch("helpdesk.health._redis")
        self.redis = patcher.start()
        self.addCleanup(patcher.stop)

    def test_it_is_healthy_when_database_redis_and_worker_answer(self):
        heartbeat.apply()
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertTrue(body["ok"])
        self.assertTrue(body["database"]["ok"])
        self.assertLess(body["worker"]["last_heartbeat_seconds_ago"], 5)

    def test_it_is_503_without_a_worker_heartbeat(self):
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["worker"]["error"], "no worker heartbeat yet")

    def test_it_is_503_when_the_heartbeat_is_stale(self):
        cache.set(HEARTBEAT_KEY, time.time() - 3600)
        with override_settings(WORKER_HEARTBEAT_MAX_AGE=60):
            self.assertEqual(self.client.get("/healthz").status_code, 503)

    def test_it_is_503_when_redis_is_down(self):
        heartbeat.apply()
        self.redis.return_value.ping.side_effect = redis.ConnectionError("refused")
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        self.assertIn("refused", response.json()["redis"]["error"])


class MetricsTests(HelpdeskTestCase):
    def test_it_counts_inbound_events_by_kind_and_status(self):
        self.post_api(PAYLOAD)
        with mock.patch("helpdesk.health._redis") as client:
            client.return_value.llen.return_value = 3
            client.return_value.get.return_value = b"7"
            response = self.client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        self.assertEqual(response.status_code, 200)
        text = response.content.decode()
        self.assertIn('helpdesk_inbound_events{kind="api",status="processed"} 1', text)
        self.assertIn("helpdesk_queue_depth 3", text)
        self.assertIn("helpdesk_websocket_connections 7", text)

    def test_it_refuses_other_addresses(self):
        response = self.client.get("/metrics", REMOTE_ADDR="203.0.113.9")
        self.assertEqual(response.status_code, 403)
