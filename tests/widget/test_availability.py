from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.cache import cache

from channels_in import actions as channel_actions
from channels_in.adapters.chat import ChatAdapter, parse_business_hours
from conversations import actions, presence
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Entry
from helpdesk.models import Team
from tests.widget.helpers import make_agent, make_chat_inbox
from widget import availability
from widget.actions import choose_reply_channel, reply_to_visitor

pytestmark = pytest.mark.django_db

ZAGREB = ZoneInfo("Europe/Zagreb")


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()


def test_business_hours_are_read_as_days_and_ranges():
    openings = parse_business_hours("mon-fri 09:00-17:00; sat 10:00-14:00")
    assert len(openings) == 6
    assert {o.weekday for o in openings} == {0, 1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="cannot read"):
        parse_business_hours("weekdays nine to five")
    with pytest.raises(ValueError, match="closing time"):
        parse_business_hours("mon 17:00-09:00")


def test_business_hours_are_wall_clock_time_in_the_inbox_zone_across_dst():
    inbox = make_chat_inbox(business_hours="mon-fri 09:00-17:00", time_zone="Europe/Zagreb")
    adapter = ChatAdapter(inbox)
    # 09:30 in Zagreb is 08:30 UTC in winter and 07:30 UTC in summer: open both times.
    assert adapter.in_business_hours(datetime(2026, 1, 12, 9, 30, tzinfo=ZAGREB))
    assert adapter.in_business_hours(datetime(2026, 7, 13, 9, 30, tzinfo=ZAGREB))
    assert adapter.in_business_hours(datetime(2026, 7, 13, 7, 30, tzinfo=ZoneInfo("UTC")))
    assert not adapter.in_business_hours(datetime(2026, 7, 13, 6, 30, tzinfo=ZoneInfo("UTC")))
    assert not adapter.in_business_hours(datetime(2026, 7, 11, 10, 0, tzinfo=ZAGREB))  # Saturday


def test_someone_is_there_only_in_hours_with_a_team_agent_online():
    support = Team.objects.create(name="Support")
    sales = Team.objects.create(name="Sales")
    alice = make_agent(team=support)
    charlie = make_agent("charlie@example.org", "Charlie", team=sales)
    inbox = make_chat_inbox(team=support, business_hours="mon-fri 09:00-17:00", time_zone="UTC")
    monday = datetime(2026, 1, 12, 10, 0, tzinfo=ZoneInfo("UTC"))
    assert availability.for_inbox(inbox, monday)["online"] is False
    presence.agent_connected(charlie.pk)
    assert availability.for_inbox(inbox, monday)["online"] is False  # another team
    presence.agent_connected(alice.pk)
    assert availability.for_inbox(inbox, monday) == {
        "online": True,
        "in_hours": True,
        "agents_online": 1,
    }
    sunday = datetime(2026, 1, 11, 10, 0, tzinfo=ZoneInfo("UTC"))
    assert availability.for_inbox(inbox, sunday)["online"] is False
    presence.agent_disconnected(alice.pk)
    assert availability.for_inbox(inbox, monday)["online"] is False


def test_two_tabs_of_one_visitor_count_once_and_both_must_close():
    presence.visitor_connected(7)
    presence.visitor_connected(7)
    presence.visitor_disconnected(7)
    assert presence.visitor_online(7)
    presence.visitor_disconnected(7)
    assert not presence.visitor_online(7)


def test_a_reply_goes_by_chat_while_the_visitor_is_there_and_by_email_once_gone(
    django_capture_on_commit_callbacks,
):
    alice = make_agent()
    chat = make_chat_inbox()
    email_inbox = channel_actions.create_inbox(
        "email", "support-mail", values={"address": "support@example.com"}
    )
    conversation = actions.record_inbound(
        InboundMessage(
            inbox_id=chat.pk,
            channel="chat",
            identities=[IdentityRef("chat", "v1")],
            body="hi",
        )
    ).entry.conversation
    contact = conversation.contact

    presence.visitor_connected(contact.pk)
    assert choose_reply_channel(conversation).channel == "chat"
    presence.visitor_disconnected(contact.pk)
    # Gone, but no e-mail known: it waits in the widget for their return.
    route = choose_reply_channel(conversation)
    assert (route.channel, route.inbox_id) == ("chat", None)

    actions.add_identity(contact, IdentityRef("email", "ana@example.com"))
    route = choose_reply_channel(conversation)
    assert (route.channel, route.inbox_id) == ("email", email_inbox.pk)

    with django_capture_on_commit_callbacks(execute=True):
        entry = reply_to_visitor(conversation, alice, "We found your order.")
    assert entry.channel == "email"
    assert entry.inbox_id == email_inbox.pk
    assert Entry.objects.filter(event="channel_switched").exists()
    [sent] = mail.outbox
    assert sent.to == ["ana@example.com"]
    assert "We found your order." in sent.body


def test_the_composer_is_told_to_switch_to_email_once_the_visitor_left():
    chat = make_chat_inbox()
    adapter = ChatAdapter(chat)
    contact = actions.resolve_contact([IdentityRef("chat", "v9")])
    assert adapter.unavailable_reason("chat", contact.pk) == ""  # no e-mail: chat waits
    actions.add_identity(contact, IdentityRef("email", "ivo@example.com"))
    channel_actions.create_inbox("email", "mail", values={"address": "help@example.com"})
    assert "left the chat" in adapter.unavailable_reason("chat", contact.pk)
    presence.visitor_connected(contact.pk)
    assert adapter.unavailable_reason("chat", contact.pk) == ""
