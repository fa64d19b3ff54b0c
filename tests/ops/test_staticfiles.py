"""Static files under ASGI and WSGI, through the async-capable WhiteNoise."""

from __future__ import annotations

import asyncio

from django.test import AsyncClient, TestCase, override_settings

from helpdesk.staticfiles import StaticFilesMiddleware


@override_settings(WHITENOISE_AUTOREFRESH=True, WHITENOISE_USE_FINDERS=True)
class StaticFilesTests(TestCase):
    def test_a_static_file_is_served_to_both_kinds_of_request(self):
        response = self.client.get("/static/css/app.css")
        self.assertEqual(response.status_code, 200)
        sync_body = b"".join(response.streaming_content)  # type: ignore[attr-defined]

        async def fetch() -> tuple[int, bytes]:
            response = await AsyncClient().get("/static/css/app.css")
            body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
            return response.status_code, body

        status, body = asyncio.run(fetch())
        self.assertEqual(status, 200)
        self.assertEqual(body, sync_body)
        self.assertIn(b"{", body)

    def test_other_requests_stay_on_the_event_loop(self):
        async def view(request: object) -> str:
            return "passed on"

        middleware = StaticFilesMiddleware(view)
        self.assertTrue(middleware.async_mode)
        self.assertTrue(asyncio.iscoroutinefunction(middleware))

        async def call() -> object:
            from django.test import RequestFactory

            return await middleware(RequestFactory().get("/healthz"))

        self.assertEqual(asyncio.run(call()), "passed on")
