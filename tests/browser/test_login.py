from __future__ import annotations

import pytest

from helpdesk.models import Agent
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_signs_in(live_server_url, page):
    Agent.objects.create_user("iva@example.org", "password", name="Iva")
    login(page, live_server_url, "iva@example.org")
    assert "Signed in as Iva" in page.content()


def test_a_wrong_password_is_refused_clearly(live_server_url, page):
    Agent.objects.create_user("iva@example.org", "password", name="Iva")
    login(page, live_server_url, "iva@example.org", "wrong")
    assert "didn't match" in page.content()
