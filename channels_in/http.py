"""The one HTTP boundary for calls to providers.

Tests install an httpx.MockTransport here (tests/conftest.py `http_mock`), so no
test can reach the network and every request a provider would receive is visible.
"""

from __future__ import annotations

import httpx

_transport: httpx.BaseTransport | None = None


def client(timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(
        transport=_transport,
        timeout=httpx.Timeout(timeout, connect=5.0),
        follow_redirects=False,
        headers={"User-Agent": "helpdesk/0.1"},
    )


def install_transport(transport: httpx.BaseTransport | None) -> None:
    global _transport  # noqa: PLW0603 - the single, deliberate test seam
    _transport = transport
