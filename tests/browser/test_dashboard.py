"""The manager's dashboard in a real browser: colours, filters, live update, screenshot."""

from __future__ import annotations

import importlib
import json
import random
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.db import connection
from django.utils import timezone

from conversations import actions
from conversations.importer import import_lines
from conversations.models import Conversation
from helpdesk.models import Agent, Team
from kpi.actions import refresh_kpis
from kpi.models import KpiTarget
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def restore_default_targets() -> None:
    """The defaults come from a data migration; an earlier transactional test's flush
    empties the table, so put them back as the migration would."""
    from django.apps import apps as django_apps

    migration = importlib.import_module("kpi.migrations.0002_default_targets_and_schedule")
    if not KpiTarget.objects.exists():
        migration.create_defaults(django_apps, None)


T = TypeVar("T")
CHANNELS = ["email", "chat", "whatsapp", "sms", "phone", "messenger"]
AGENTS = ["iva@example.org", "marko@example.org", "lea@example.org", "tom@example.org"]


def off_thread(fn: Callable[[], T]) -> T:
    """Server-side work in its own thread: Playwright keeps an event loop in this one."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    return result[0]


def history(count: int = 160) -> list[str]:
    """A month of realistic-looking history ending now, reproducible."""
    rng = random.Random(9)
    now = timezone.now()
    lines = []
    for i in range(count):
        created = now - timedelta(days=rng.uniform(0.2, 29.5))
        channel = rng.choices(CHANNELS, weights=[30, 30, 15, 10, 10, 5])[0]
        agent = rng.choice(AGENTS)
        at = created
        entries: list[dict[str, Any]] = [
            {"kind": "inbound", "channel": channel, "at": at.isoformat(), "body": "Hello"}
        ]
        if rng.random() < 0.3:
            entries.append(
                {
                    "kind": "outbound",
                    "channel": channel,
                    "at": (at + timedelta(seconds=20)).isoformat(),
                    "body": "Thanks, we got it",
                    "author": "bot@example.org",
                    "auto": True,
                }
            )
        at += timedelta(minutes=rng.lognormvariate(3.3, 0.9))
        entries.append(
            {
                "kind": "outbound",
                "channel": channel,
                "at": at.isoformat(),
                "body": "On it",
                "author": agent,
            }
        )
        if rng.random() < 0.18:
            other = rng.choice([c for c in CHANNELS if c != channel])
            at += timedelta(minutes=rng.uniform(5, 300))
            entries.append({"kind": "inbound", "channel": other, "at": at.isoformat(), "body": "+"})
            at += timedelta(minutes=rng.uniform(5, 90))
            entries.append(
                {
                    "kind": "outbound",
                    "channel": other,
                    "at": at.isoformat(),
                    "body": "Done",
                    "author": agent,
                }
            )
        status = "resolved" if rng.random() < 0.85 else rng.choice(["open", "pending"])
        if status == "resolved":
            at += timedelta(minutes=rng.lognormvariate(4.5, 1.0))
            entries.append({"kind": "event", "event": "resolved", "at": at.isoformat()})
            if rng.random() < 0.45:
                score = rng.choices([5, 4, 3, 2, 1], weights=[50, 25, 10, 8, 7])[0]
                entries.append(
                    {
                        "kind": "survey",
                        "survey": "csat",
                        "score": score,
                        "channel": channel,
                        "at": (at + timedelta(minutes=10)).isoformat(),
                    }
                )
            if rng.random() < 0.2:
                entries.append(
                    {
                        "kind": "survey",
                        "survey": "nps",
                        "score": rng.randint(3, 10),
                        "at": (at + timedelta(minutes=12)).isoformat(),
                    }
                )
        lines.append(
            json.dumps(
                {
                    "external_id": f"demo-{i}",
                    "contact": {"identities": [{"kind": "email", "value": f"c{i % 120}@ex.org"}]},
                    "status": status,
                    "team": "Support" if i % 3 else "Sales",
                    "assignee": agent,
                    "created_at": created.isoformat(),
                    "entries": entries,
                }
            )
        )
    return lines


def colours(page: Any) -> dict[str, tuple[str, str]]:
    return {
        el.get_attribute("id")[5:]: (
            el.get_attribute("data-colour"),
            el.get_attribute("data-value"),
        )
        for el in page.query_selector_all(".kpi-card")
    }


def test_the_dashboard_shows_targets_filters_and_live_changes(live_server_url, page):
    for email in AGENTS:
        Agent.objects.create_user(email, "password", name=email.split("@")[0].title())
    Team.objects.create(name="Support")
    Agent.objects.create_user("sam@example.org", "password", name="Sam", role="supervisor")
    outcome = import_lines(history())
    assert outcome.failed == 0, outcome.errors
    restore_default_targets()
    refresh_kpis(full=True)
    # Targets that put the cards in different colours.
    KpiTarget.objects.filter(metric="frt_median").update(green=3600, amber=7200)
    KpiTarget.objects.filter(metric="csat").update(green=95, amber=90)
    KpiTarget.objects.filter(metric="fcr").update(green=60, amber=40)

    login(page, live_server_url, "sam@example.org")
    page.goto(f"{live_server_url}/kpi/")
    page.wait_for_selector(".kpi-card")
    page.wait_for_selector("#kpi-live.on")
    shown = colours(page)
    targets = {t.metric: t for t in KpiTarget.objects.all()}
    for metric, (colour, value) in shown.items():
        if metric in targets and metric != "backlog_oldest":
            expected = targets[metric].colour(float(value) if value else None)
            assert colour == expected, (metric, colour, value)
    assert shown["frt_median"][0] == "green"
    assert {c for c, _v in shown.values()} >= {"green", "red"}
    screenshot(page, "dashboard")

    # Filters change the numbers.
    all_volume = int(shown["volume"][1])
    page.select_option("#filter-channel", "chat")
    page.click("#kpi-filters button[type=submit]")
    page.wait_for_url("**channel=chat**")
    chat_volume = int(colours(page)["volume"][1])
    assert 0 < chat_volume < all_volume
    page.goto(f"{live_server_url}/kpi/")
    page.wait_for_selector("#kpi-live.on")

    # A conversation resolved now moves the cards, without a reload.
    page.evaluate("window.__sameDocument = true")
    before = colours(page)["fcr"][1]
    resolved_before = page.inner_text("#card-resolution_median .kpi-detail")

    def resolve_one() -> int:
        conversation = (
            Conversation.objects.filter(status="open", human_reply_count=1, reopened_count=0)
            .order_by("-created_at")
            .first()
        )
        assert conversation is not None
        actions.set_status(conversation, None, "resolved")
        return conversation.pk

    off_thread(resolve_one)
    page.wait_for_function(
        "(before) => document.querySelector('#card-resolution_median .kpi-detail')"
        ".innerText !== before",
        arg=resolved_before,
    )
    assert page.evaluate("window.__sameDocument") is True
    assert colours(page)["fcr"][1] != before
