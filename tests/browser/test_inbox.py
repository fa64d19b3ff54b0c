"""The agent inbox in a real browser: timeline, reply, live updates, merge, search."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.db import connection, transaction
from django.utils import timezone

from channels_in import actions as channel_actions
from conversations import actions
from conversations.identities import IdentityRef
from conversations.inbound import DeliveryUpdate, InboundMessage
from conversations.models import CannedResponse, Entry
from helpdesk.models import Agent, Team
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

T = TypeVar("T")
ANA = [IdentityRef("email", "ana@example.com"), IdentityRef("api", "shop-customer-17")]


def off_thread(fn: Callable[[], T]) -> T:
    """Run server-side work in its own thread: Playwright's sync API keeps an event loop
    in this one, and the after-commit realtime publish must not run inside it."""
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
    thread.join(30)
    if errors:
        raise errors[0]
    return result[0]


class World:
    def __init__(self) -> None:
        self.team = Team.objects.create(name="Support")
        self.iva = Agent.objects.create_user("iva@example.org", "password", name="Iva")
        self.bob = Agent.objects.create_user("bob@example.org", "password", name="Bob")
        self.team.members.add(self.iva, self.bob)
        self.inbox = channel_actions.create_inbox(
            "api",
            "shop",
            name="Shop",
            team_id=self.team.pk,
            values={"secret": "s3cret", "callback_url": "https://shop.example.com/hook"},
        )

    def inbound(
        self,
        body: str,
        channel: str,
        identities: list[IdentityRef] | None = None,
        *,
        name: str = "Ana Kovač",
        minutes_ago: int = 0,
        subject: str = "",
        provider_id: str | None = None,
    ) -> Entry:
        msg = InboundMessage(
            inbox_id=self.inbox.pk,
            channel=channel,
            identities=identities or ANA,
            team_id=self.team.pk,
            body=body,
            contact_name=name,
            subject=subject,
            provider_id=provider_id,
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        )

        def record() -> Entry:
            with transaction.atomic():
                return actions.record_inbound(msg).entry

        return off_thread(record)

    def ana_history(self) -> None:
        """An older, resolved conversation and some attributes: a customer with a past."""
        old = self.inbound("Can I return the red scarf?", "email", minutes_ago=60 * 24 * 40)

        def resolve() -> None:
            with transaction.atomic():
                at = timezone.now() - timedelta(days=39)
                actions.set_status(old.conversation, self.iva, "resolved", at=at)
                actions.update_contact(
                    old.contact, attributes={"plan": "Gold", "city": "Zagreb", "orders": "12"}
                )

        off_thread(resolve)

    def ana_everywhere(self) -> Entry:
        self.inbound(
            "Hi, I ordered the blue jacket last week and it still hasn't shipped.",
            "email",
            subject="Order #4411 not shipped",
            minutes_ago=50,
        )
        self.inbound(
            "Following up here on chat, any news about order 4411?",
            "chat",
            [*ANA, IdentityRef("chat", "visitor-8d1f")],
            minutes_ago=20,
        )
        return self.inbound(
            "Sending this on WhatsApp too, I need the jacket by Friday!",
            "whatsapp",
            [*ANA, IdentityRef("phone", "+385911234567")],
            minutes_ago=4,
        )

    def filler(self) -> None:
        people = [
            ("Marko Horvat", "marko@example.com", "chat", "Can I change my delivery address?", 2),
            ("Lucía Fernández", "lucia@example.es", "whatsapp", "Do you ship to Spain?", 12),
            ("Tom Becker", "tom@example.de", "email", "Invoice for March is missing VAT", 35),
            ("Priya Natarajan", "priya@example.in", "sms", "Refund received, thank you!", 90),
            ("Jonas Berg", "jonas@example.se", "messenger", "Is the wool coat back in stock?", 180),
        ]
        for name, email, channel, body, ago in people:
            self.inbound(body, channel, [IdentityRef("email", email)], name=name, minutes_ago=ago)


def open_conversation(page: Any, base: str, conversation_id: int) -> None:
    page.goto(f"{base}/inbox/c/{conversation_id}/")
    page.wait_for_selector("body[data-live=on]")


def test_one_timeline_across_email_chat_and_whatsapp_then_reply_and_delivery(
    live_server_url, page, http_mock
):
    world = World()
    world.filler()
    world.ana_history()
    latest = world.ana_everywhere()
    CannedResponse.objects.create(
        shortcut="thanks",
        title="Thanks",
        body="Thanks {{ contact_first_name }}, {{ agent_name }} here.",
    )
    off_thread(lambda: actions.set_labels(latest.conversation, world.iva, ["vip", "shipping"]))
    off_thread(lambda: actions.set_priority(latest.conversation, world.iva, "high"))

    login(page, live_server_url, "iva@example.org")
    page.wait_for_selector("[data-rows] [data-conversation]")
    assert page.locator("[data-rows] [data-conversation]").count() == 6
    assert "Ana Kovač" in page.inner_text("[data-rows]")
    screenshot(page, "inbox-list")

    page.click(f"[data-conversation='{latest.conversation_id}'] .row-link")
    page.wait_for_selector("body[data-live=on]")
    timeline = page.inner_text("[data-timeline]")
    assert "blue jacket last week" in timeline
    assert "any news about order 4411" in timeline
    assert "on WhatsApp too" in timeline
    for channel in ("email", "chat", "whatsapp"):
        assert page.locator(f"[data-timeline] .ch-{channel}").count() >= 1

    # the picker explains why e-mail can't be used from an API inbox; API is the default
    assert page.eval_on_selector("[data-channel]", "s => s.value") == "api"
    assert page.locator("[data-channel] option[value=email][disabled]").count() == 1

    # canned response by /shortcut, with variables filled in
    page.click("#reply-body")
    page.keyboard.type("/than")
    page.wait_for_selector("[data-canned-menu] li")
    page.keyboard.press("Enter")
    assert page.input_value("#reply-body") == "Thanks Ana, Iva here."
    page.keyboard.type(" Your jacket ships today.")
    screenshot(page, "inbox-conversation")

    page.click("#reply-form button[type=submit]")
    reply_el = page.locator("[data-timeline] .entry.kind-outbound").last
    reply_el.locator("text=Your jacket ships today.").wait_for()
    reply_el.locator("[data-delivery=sent]").wait_for()
    reply = Entry.objects.get(kind="outbound", author=world.iva)
    assert reply.body == "Thanks Ana, Iva here. Your jacket ships today."
    sent = [json.loads(r.content) for r in http_mock.requests]
    assert [m["body"] for m in sent if m["id"] == str(reply.public_id)] == [reply.body]
    assert page.input_value("#reply-body") == ""

    # the provider reports delivery: the status changes on the page without reload
    update = DeliveryUpdate(world.inbox.pk, reply.provider_id or "", "delivered")
    off_thread(lambda: actions.record_delivery(update))
    reply_el.locator("[data-delivery=delivered]").wait_for()
    assert "Delivered" in reply_el.inner_text()

    # the contact sidebar
    page.click("text=+ Add identity")
    screenshot(page, "inbox-contact-sidebar")
    page.select_option("#id-kind", "phone")
    page.fill("#id-value", "+44 20 7946 0958")
    page.click("aside form.stack button:has-text('Add')")
    page.wait_for_selector("text=+442079460958")


def test_a_second_agent_sees_replying_and_the_new_message_live(live_server_url, page, new_page):
    world = World()
    latest = world.ana_everywhere()
    login(page, live_server_url, "iva@example.org")
    open_conversation(page, live_server_url, latest.conversation_id)

    bob = new_page()
    login(bob, live_server_url, "bob@example.org")
    open_conversation(bob, live_server_url, latest.conversation_id)
    bob.wait_for_selector("[data-presence] >> text=Iva is viewing")
    page.wait_for_selector("[data-presence] >> text=Bob is viewing")

    page.click("#reply-body")
    page.keyboard.type("Checking with the warehouse now")
    bob.wait_for_selector("[data-presence] >> text=Iva is replying")

    page.click("#reply-form button[type=submit]")
    bob.wait_for_selector("[data-timeline] >> text=Checking with the warehouse now")
    bob.wait_for_selector("[data-presence] >> text=Iva is viewing")

    # a note with an @mention rings Bob's bell
    page.click("#tab-note")
    page.fill("#note-body", "@bob can you check stock for the blue jacket?")
    page.click("#note-form button[type=submit]")
    bob.wait_for_selector("[data-timeline] >> text=can you check stock")
    bob.wait_for_selector("[data-bell-count]:not([hidden])")
    assert bob.inner_text("[data-bell-count]") == "1"


def test_a_new_inbound_message_appears_live_in_the_list_and_the_conversation(
    live_server_url, page, new_page
):
    world = World()
    latest = world.ana_everywhere()
    login(page, live_server_url, "iva@example.org")
    open_conversation(page, live_server_url, latest.conversation_id)
    lister = new_page()
    login(lister, live_server_url, "bob@example.org")
    lister.wait_for_selector("body[data-live=on]")
    assert lister.locator("[data-rows] [data-conversation]").count() == 1

    world.inbound(
        "One more thing: gift wrap please!", "chat", [*ANA, IdentityRef("chat", "visitor-8d1f")]
    )
    page.wait_for_selector("[data-timeline] >> text=gift wrap please")
    assert page.locator("[data-timeline] >> text=gift wrap please").count() == 1  # no duplicate
    lister.wait_for_selector("[data-rows] >> text=gift wrap please")

    world.inbound(
        "Hello, first time here",
        "email",
        [IdentityRef("email", "new@example.com")],
        name="Nora New",
    )
    lister.wait_for_selector("[data-rows] >> text=Nora New")
    assert lister.locator("[data-rows] [data-conversation]").count() == 2


def test_an_agent_merges_two_contacts_with_a_preview(live_server_url, page):
    world = World()
    latest = world.ana_everywhere()
    world.inbound(
        "Writing from my work address about the invoice",
        "email",
        [IdentityRef("email", "ana.kovac@acme.example")],
        name="Ana K. (ACME)",
    )
    login(page, live_server_url, "iva@example.org")
    open_conversation(page, live_server_url, latest.conversation_id)
    page.fill("#merge-other", "ana.kovac@acme.example")
    page.click("text=Preview merge")
    page.wait_for_selector("text=what moves")
    assert "ana.kovac@acme.example" in page.inner_text(".merge-preview")
    page.click("[data-confirm-merge]")
    page.wait_for_selector("[data-conversation-page]")
    assert "Merged Ana K. (ACME) into Ana Kovač" in page.content()
    assert "ana.kovac@acme.example" in page.inner_text("aside.contact")
    page.wait_for_selector("[data-timeline] >> text=Writing from my work address")
    assert "merged contact Ana K. (ACME)" in page.inner_text("[data-timeline-wrap]")


def test_search_finds_a_message_by_a_word_in_its_body(live_server_url, page):
    world = World()
    world.filler()
    latest = world.ana_everywhere()
    login(page, live_server_url, "iva@example.org")
    page.keyboard.press("/")
    page.keyboard.type("jacket")
    page.keyboard.press("Enter")
    page.wait_for_selector(".search-results")
    hits = page.inner_text(".search-results")
    assert "blue jacket" in hits
    assert "Do you ship to Spain" not in hits
    page.click(f"a[href*='/inbox/c/{latest.conversation_id}/']")
    page.wait_for_selector("[data-conversation-page]")


def test_keyboard_shortcuts_and_a_phone_width(live_server_url, new_page):
    world = World()
    world.filler()
    phone = new_page(390, 844)
    login(phone, live_server_url, "iva@example.org")
    phone.wait_for_selector("[data-rows] [data-conversation]")
    assert not phone.is_visible("#nav")  # the navigation folds away
    phone.click("[data-nav-toggle]")
    phone.wait_for_selector("#nav", state="visible")
    phone.click("[data-nav-toggle]")
    phone.wait_for_selector("#nav", state="hidden")
    phone.keyboard.press("?")
    assert phone.is_visible("#help")
    phone.keyboard.press("Escape")
    phone.keyboard.press("j")
    phone.keyboard.press("j")
    assert phone.locator(".row.selected").count() == 1
    phone.keyboard.press("Enter")
    phone.wait_for_selector("[data-conversation-page]")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


def test_a_draft_survives_a_reload_and_the_customer_typing_shows(live_server_url, page):
    world = World()
    latest = world.ana_everywhere()
    login(page, live_server_url, "iva@example.org")
    open_conversation(page, live_server_url, latest.conversation_id)
    page.click("#reply-body")
    page.keyboard.type("Half-written answer")
    open_conversation(page, live_server_url, latest.conversation_id)
    assert page.input_value("#reply-body") == "Half-written answer"

    # the chat widget publishes the visitor's typing to the conversation group
    from conversations import realtime

    group = realtime.conversation_group(latest.conversation_id)
    frame = {"type": "typing", "conversation": latest.conversation_id, "who": "visitor"}
    off_thread(lambda: realtime.publish_now(group, {**frame, "typing": True}))
    page.wait_for_selector("[data-typing]:not([hidden])")
    assert "Ana Kovač is typing" in page.inner_text("[data-typing]")
