from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from tests.widget.helpers import hello, make_chat_inbox, visitor

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_socket_is_counted_once_open_and_once_closed(socket_gauge):
    make_chat_inbox()

    async def scenario():
        ws = visitor()
        await hello(ws)
        assert socket_gauge.socket_opened.call_count == 1
        assert socket_gauge.socket_closed.call_count == 0
        await ws.disconnect()

    async_to_sync(scenario)()
    assert socket_gauge.socket_opened.call_count == 1
    assert socket_gauge.socket_closed.call_count == 1
