"""A visitor on the demo page and an agent chat both ways, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.cache import cache

from channels_in import actions as channel_actions
from channels_in.adapters.chat import identity_hash
from conversations import actions
from conversations.models import Contact, Conversation, Entry
from helpdesk.models import Agent, Team
from tests.browser.conftest import login, screenshot
from widget.actions import drop_visitor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-identity-secret"


class CustomerSite:
    """A customer's website on another origin (another loopback port: a public origin
    would be stopped by Chromium's private network rules before the widget loads)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        site = self
        self.html = b""

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    site = CustomerSite()
    yield site
    site.stop()


AGENT_SOCKET_JS = """() => new Promise((resolve) => {
  window.frames_ = [];
  const ws = new WebSocket(location.origin.replace("http", "ws") + "/ws/agent/");
  window.agentWs = ws;
  ws.onmessage = (e) => window.frames_.push(JSON.parse(e.data));
  ws.onopen = () => resolve(true);
})"""


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()


@pytest.fixture
def team():
    return Team.objects.create(name="Support")


@pytest.fixture
def alice(team):
    agent = Agent.objects.create_user("alice@example.org", "password", name="Alice Novak")
    team.members.add(agent)
    return agent


@pytest.fixture
def inbox(team, site):
    return channel_actions.create_inbox(
        "chat",
        "northwind",
        name="Northwind Coffee",
        team_id=team.pk,
        values={
            "title": "Northwind Coffee",
            "greeting": "Hi! Ask us anything about your order or our roasts.",
            "color": "#7c3aed",
            "allowed_origins": site.url,
            "identity_secret": SECRET,
        },
    )


def off_thread(fn, *args, **kwargs):
    """Run an action in a plain thread: Playwright's event loop owns this one, and the
    action publishes with async_to_sync after commit."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=30)


def reply(conversation, agent, body):
    return off_thread(actions.reply, conversation, agent, body)


def open_widget(page, url: str) -> None:
    page.goto(url)
    page.locator("#helpdesk-chat .launcher").click()
    page.locator("#helpdesk-chat .panel").wait_for(state="visible")


def send(page, text: str) -> None:
    box = page.locator("#helpdesk-chat textarea").last
    box.fill(text)
    box.press("Enter")


def bubbles(page) -> list[str]:
    return page.locator("#helpdesk-chat .row .bubble").all_inner_texts()


def agent_frames(page, kind: str) -> list[dict]:
    return page.evaluate(f"() => window.frames_.filter(f => f.type === {kind!r})")


def host_page(page, site, live_server_url: str, identity: dict | None = None) -> None:
    """A customer's website on another origin, embedding the widget from our server."""
    import json

    html = (
        "<!doctype html><html><body><h1>Customer site</h1>"
        f"<script>window.HelpdeskChat = {{identity: {json.dumps(identity)}}};</script>"
        f'<script src="{live_server_url}/widget/northwind.js"></script></body></html>'
    )
    site.html = html.encode()
    page.goto(f"{site.url}/shop/")


def test_visitor_and_agent_chat_both_ways_with_typing(live_server_url, new_page, inbox, alice):
    agent = new_page()
    login(agent, live_server_url, "alice@example.org")
    agent.evaluate(AGENT_SOCKET_JS)
    agent.wait_for_function("() => window.frames_.some(f => f.type === 'hello')")

    visitor = new_page(1280, 800)
    open_widget(visitor, f"{live_server_url}/widget/demo/")
    # Alice's inbox is open: the widget promises a quick answer, not an e-mail.
    status = visitor.locator("#helpdesk-chat .status")
    status.filter(has_text="few minutes").wait_for()
    send(visitor, "Hi! My order #1042 hasn't arrived yet.")
    visitor.wait_for_function(
        "() => !document.querySelector('#helpdesk-chat').shadowRoot"
        ".querySelector('.row.me .meta').textContent.includes('…')"
    )
    entry = Entry.objects.get(kind="inbound")
    assert entry.body == "Hi! My order #1042 hasn't arrived yet."
    conversation = entry.conversation
    agent.evaluate(
        "() => window.agentWs.send(JSON.stringify({type: 'subscribe', "
        f"conversation: {conversation.pk}}}))"
    )
    agent.wait_for_function("() => window.frames_.some(f => f.type === 'subscribed')")

    # The visitor types: the agent's socket hears it.
    visitor.locator("#helpdesk-chat textarea").press_sequentially("It was", delay=30)
    agent.wait_for_function("() => window.frames_.some(f => f.type === 'typing' && f.typing)")
    assert agent_frames(agent, "typing")[0]["who"] == "visitor"

    # The agent types: the visitor sees who.
    agent.evaluate(
        "() => window.agentWs.send(JSON.stringify({type: 'typing', typing: true, "
        f"conversation: {conversation.pk}}}))"
    )
    indicator = visitor.locator("#helpdesk-chat .typing")
    indicator.wait_for(state="visible")
    assert "Alice Novak is typing" in indicator.inner_text()

    reply(conversation, alice, "Sorry about that! It left our roastery on Monday.")
    visitor.locator("#helpdesk-chat .bubble", has_text="left our roastery").wait_for()
    assert indicator.is_hidden()
    assert "Alice Novak" in visitor.locator("#helpdesk-chat .name").last.inner_text()
    # ...and the agent's socket got the visitor's second message live.
    visitor.locator("#helpdesk-chat textarea").fill("Great, thanks! Tracking number?")
    visitor.locator("#helpdesk-chat textarea").press("Enter")
    agent.wait_for_function(
        "() => window.frames_.some(f => f.type === 'entry.created' && "
        "f.entry.body === 'Great, thanks! Tracking number?')"
    )
    reply(conversation, alice, "It's NW-88412-HR. Should be with you tomorrow ☕")
    visitor.locator("#helpdesk-chat .bubble", has_text="NW-88412-HR").wait_for()
    # The visitor had the panel open: our replies are marked read.
    visitor.wait_for_timeout(300)
    assert set(Entry.objects.filter(kind="outbound").values_list("delivery_status", flat=True)) == {
        "read"
    }
    # Nobody's text is ever HTML.
    assert visitor.locator("#helpdesk-chat .bubble b").count() == 0
    visitor.wait_for_timeout(200)
    screenshot(visitor, "widget")


def test_a_dropped_socket_resumes_with_nothing_lost_or_doubled(
    live_server_url, new_page, inbox, alice
):
    visitor = new_page(1280, 800)
    open_widget(visitor, f"{live_server_url}/widget/demo/")
    send(visitor, "first")
    visitor.locator("#helpdesk-chat .meta", has_text=re.compile(r"\d")).first.wait_for()
    contact = Contact.objects.get()
    conversation = Conversation.objects.get()

    off_thread(drop_visitor, contact.pk)
    # While the widget is away: an agent reply (missed live) and a visitor message
    # (queued in the widget) must both arrive exactly once after the reconnect.
    reply(conversation, alice, "reply while you were away")
    send(visitor, "second")
    visitor.locator("#helpdesk-chat .bubble", has_text="reply while you were away").wait_for()
    visitor.wait_for_function(
        "() => [...document.querySelector('#helpdesk-chat').shadowRoot"
        ".querySelectorAll('.row.me .meta')].every(m => !m.textContent.includes('…'))"
    )
    send(visitor, "third")
    reply(conversation, alice, "and a live one")
    visitor.locator("#helpdesk-chat .bubble", has_text="and a live one").wait_for()
    visitor.wait_for_timeout(300)

    texts = bubbles(visitor)
    for text in ("first", "second", "third", "reply while you were away", "and a live one"):
        assert texts.count(text) == 1, texts
    assert list(
        Entry.objects.filter(kind="inbound").order_by("occurred_at").values_list("body", flat=True)
    ) == ["first", "second", "third"]

    # A reload shows the same history, once.
    visitor.reload()
    visitor.locator("#helpdesk-chat .launcher").click()
    visitor.locator("#helpdesk-chat .bubble", has_text="and a live one").wait_for()
    texts = bubbles(visitor)
    for text in ("first", "second", "third", "reply while you were away", "and a live one"):
        assert texts.count(text) == 1, texts


def test_a_disallowed_website_is_refused_with_a_clear_error(live_server_url, new_page, inbox, site):
    inbox.config["allowed_origins"] = "https://only-this.example"
    inbox.save(update_fields=["config"])
    page = new_page()
    host_page(page, site, live_server_url)
    page.locator("#helpdesk-chat .launcher").click()
    banner = page.locator("#helpdesk-chat .banner.err")
    banner.wait_for()
    assert site.url in banner.inner_text()
    assert "not allowed" in banner.inner_text()


def test_a_wrong_identity_hash_is_refused_with_a_clear_error(
    live_server_url, new_page, inbox, site
):
    page = new_page()
    identity = {"identifier": "user-7", "identifier_hash": "bad" * 21, "name": "Ivo"}
    host_page(page, site, live_server_url, identity)
    page.locator("#helpdesk-chat .launcher").click()
    banner = page.locator("#helpdesk-chat .banner.err")
    banner.wait_for()
    assert "could not be verified" in banner.inner_text()
    assert not Contact.objects.exists()


def test_a_verified_user_sees_their_history_from_another_device(
    live_server_url, new_page, inbox, site
):
    identity = {
        "identifier": "user-7",
        "identifier_hash": identity_hash("user-7", SECRET),
        "name": "Ivo",
    }
    laptop = new_page()
    host_page(laptop, site, live_server_url, identity)
    laptop.locator("#helpdesk-chat .launcher").click()
    send(laptop, "asked on my laptop")
    laptop.locator("#helpdesk-chat .meta", has_text=re.compile(r"\d")).first.wait_for()

    phone = new_page(390, 844)
    host_page(phone, site, live_server_url, identity)
    phone.locator("#helpdesk-chat .launcher").click()
    phone.locator("#helpdesk-chat .bubble", has_text="asked on my laptop").wait_for()
    assert Contact.objects.get().name == "Ivo"


def test_another_visitors_token_is_not_accepted(live_server_url, new_page, inbox):
    victim = new_page()
    open_widget(victim, f"{live_server_url}/widget/demo/")
    send(victim, "my private question")
    victim.locator("#helpdesk-chat .meta", has_text=re.compile(r"\d")).first.wait_for()
    token = victim.evaluate("() => localStorage.getItem('hdw:northwind:token')")

    attacker = new_page()
    attacker.goto(f"{live_server_url}/widget/demo/")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    attacker.evaluate(f"() => localStorage.setItem('hdw:northwind:token', {forged!r})")
    attacker.reload()
    attacker.locator("#helpdesk-chat .launcher").click()
    attacker.locator("#helpdesk-chat .panel").wait_for(state="visible")
    attacker.wait_for_function(
        f"() => localStorage.getItem('hdw:northwind:token') && "
        f"localStorage.getItem('hdw:northwind:token') !== {forged!r}"
    )
    assert "my private question" not in bubbles(attacker)


def test_an_oversized_message_is_refused_with_a_clear_error(live_server_url, new_page, inbox):
    visitor = new_page()
    open_widget(visitor, f"{live_server_url}/widget/demo/")
    old = settings.WIDGET_MAX_MESSAGE_CHARS
    settings.WIDGET_MAX_MESSAGE_CHARS = 20  # the server's limit, below what the page knows
    try:
        send(visitor, "x" * 40)
        failed = visitor.locator("#helpdesk-chat .meta.fail")
        failed.wait_for()
        assert "too long" in failed.inner_text()
    finally:
        settings.WIDGET_MAX_MESSAGE_CHARS = old
    assert not Entry.objects.exists()
    # ...and the widget's own check stops what it knows is too long.
    send(visitor, "y" * (old + 1))
    visitor.locator("#helpdesk-chat .banner.err", has_text="too long").wait_for()
