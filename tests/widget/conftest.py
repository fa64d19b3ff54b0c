from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _widget_db_on_the_test_thread(settings):
    # The consumer's database work then runs on the test's own connection, so query
    # counts can be asserted and TestCase-style isolation holds.
    settings.WIDGET_DB_THREAD_SENSITIVE = True


@pytest.fixture(autouse=True)
def socket_gauge():
    # The /metrics socket gauge lives in Redis: tests count its calls instead.
    from unittest import mock

    from helpdesk import ws_metrics

    with mock.patch("widget.consumers.ws_metrics", autospec=ws_metrics) as gauge:
        yield gauge
