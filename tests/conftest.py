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


@pytest.fixture(autouse=True)
def http_mock() -> Iterator[HttpRecorder]:
    """No test reaches the network: every outbound call lands here."""
    recorder = HttpRecorder()
    http.install_transport(httpx.MockTransport(recorder.handler))
    yield recorder
    http.install_transport(None)
