from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from channels_in import http


class HttpRecorder:
    """Stands in for every provider at the HTTP boundary; records what they'd receive."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responder: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200, json={"ok": True}
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.responder(request)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in
    the main thread for the rest of the session, which async_to_sync refuses."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Every test starts with an empty cache: cached KPI summaries are keyed by a
    version counter that restarts with each test's database."""
    from django.core.cache import cache

    from channels_in import views as channel_views
    from conversations import refdata
    from webhooks import receivers as webhook_receivers

    cache.clear()
    # The per-process caches too: each test's database reuses ids and slugs.
    channel_views._forget_inboxes(sender=None)
    webhook_receivers._forget_subscriptions(sender=None)
    refdata.forget()
    yield


@pytest.fixture(autouse=True)
def http_mock() -> Iterator[HttpRecorder]:
    """No test reaches the network: every outbound call lands here."""
    recorder = HttpRecorder()
    http.install_transport(httpx.MockTransport(recorder.handler))
    yield recorder
    http.install_transport(None)
