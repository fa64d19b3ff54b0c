"""The demo workspace of `make run` (`seed_demo` with no numbers), built through actions.

Everything here goes through the real code paths: inboxes through
channels_in.actions.create_inbox, customer messages through record_inbound,
and the agents' work through reply, add_note, assign and set_status, so the
demo obeys every rule the product does (identity resolution, continuity across
channels, lifecycle timestamps, timeline events).

The history happens "in the past weeks": each step runs under time_machine at
its own moment, so actions that stamp `timezone.now()` (reply, add_note,
assign) record that moment, exactly as if it had happened then.

Two side effects are switched off while it builds (`quiet_side_effects`), and
only these: demo replies are not handed to the `channels_in.send_outbound`
task (the enqueue is dropped, so nothing reaches the Celery queue or a
provider); each reply is then claimed and marked sent and delivered through
claim_for_sending / mark_delivery, as a worker would after a successful send.
And nothing is published to the channel layer: nobody is connected yet, and
Redis may not be running when the demo is loaded. Extension signals (KPI
rollups...) still fire.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations import actions, realtime
from conversations.identities import IdentityRef, normalize
from conversations.inbound import InboundMessage
from conversations.models import Channel, Conversation, Entry, IdentityKind
from helpdesk.models import Agent, Team

ADMIN_EMAIL = "admin@example.com"
LOGIN_URL = "http://127.0.0.1:8000/login/"

TEAM_AGENTS: dict[str, list[tuple[str, str]]] = {
    "Support": [
        ("ana.horvat@example.com", "Ana Horvat"),
        ("marko.kovacevic@example.com", "Marko Kovačević"),
        ("emily.clarke@example.com", "Emily Clarke"),
    ],
    "Sales": [
        ("ivana.babic@example.com", "Ivana Babić"),
        ("james.wilson@example.com", "James Wilson"),
    ],
}

CUSTOMERS = (
    "Luka Jurić",
    "Petra Novak",
    "Josip Marić",
    "Lucija Knežević",
    "Tomislav Vuković",
    "Katarina Marković",
    "Filip Pavlović",
    "Nina Božić",
    "Matej Grgić",
    "Sara Tomić",
    "Ivan Perić",
    "Maja Radić",
    "Oliver Smith",
    "Amelia Jones",
    "Jack Taylor",
    "Olivia Brown",
    "Harry Williams",
    "Isla Wilson",
    "George Johnson",
    "Mia Davies",
    "Noah Evans",
    "Sophie Thomas",
    "Leo Roberts",
    "Grace Walker",
    "Dora Kralj",
    "Ante Šimić",
    "Ema Lovrić",
    "Karlo Barišić",
    "Chloe Hughes",
    "Daniel Green",
)

# Fake but plausible settings for the keys adapters declare; secrets are random.
_SECRET_WORDS = ("secret", "token", "password")


def _fake_value(kind: str, slug: str, key: str) -> str:
    known = {
        "callback_url": "https://shop.example.com/helpdesk/callback",
        "address": f"{slug}@example.com",
        "allowed_origins": "http://127.0.0.1:8000,http://localhost:8000",
        "title": "Chat with us",
        "greeting": "Hi! How can we help?",
        "imap_host": "imap.example.com",
        "imap_port": "993",
        "imap_user": f"{slug}@example.com",
        "imap_folder": "INBOX",
        "account_sid": "AC" + secrets.token_hex(16),
        "phone_number": "+14155550100",
        "whatsapp_number": "+14155550101",
        "phone_number_id": "100000000000001",
        "waba_id": "100000000000002",
        "page_id": "200000000000001",
        "instagram_id": "300000000000001",
        "bot_token": f"123456789:{secrets.token_urlsafe(26)}",
    }
    if key in known:
        return known[key]
    return secrets.token_urlsafe(24)


def inbox_values(kind: str, slug: str) -> dict[str, Any]:
    """Values for every key a kind requires, plus the well-known optional ones."""
    from channels_in.registry import adapter_class

    cls = adapter_class(kind)
    values: dict[str, Any] = {}
    for key in (*cls.config_keys, *cls.secret_keys):
        wanted = key in cls.required_keys or key in cls.secret_keys
        if wanted or key in ("callback_url", "address", "allowed_origins", "title", "greeting"):
            values[key] = _fake_value(kind, slug, key)
    for key in cls.required_keys:
        values.setdefault(key, _fake_value(kind, slug, key))
    return values


def inboxes_by_channel(
    prefix: str, team_ids: list[int], *, warn: Any = None
) -> dict[str, int | None]:
    """One inbox per registered kind (created once); the inbox id serving each channel.

    Kinds registered by other apps at run time are used as they are; a kind whose
    creation fails (a key we cannot fake) is skipped with a warning.
    """
    from channels_in import actions as channel_actions
    from channels_in.models import Inbox
    from channels_in.registry import adapter_class, known_kinds

    by_channel: dict[str, int | None] = {}
    for i, kind in enumerate(known_kinds()):
        slug = f"{prefix}-{kind}".replace("_", "-")
        inbox = Inbox.objects.filter(slug=slug).first()
        if inbox is None:
            try:
                with transaction.atomic():
                    inbox = channel_actions.create_inbox(
                        kind,
                        slug,
                        name=f"{prefix.title()} {kind.replace('_', ' ')}",
                        team_id=team_ids[i % len(team_ids)] if team_ids else None,
                        values=inbox_values(kind, slug),
                    )
            except Exception as exc:  # noqa: BLE001 - any adapter's validation: skip that kind
                if warn is not None:
                    warn(f"skipped the {kind} inbox: {exc}")
                continue
        for channel in adapter_class(kind).channels:
            by_channel.setdefault(str(channel), inbox.pk)
    return by_channel


@contextmanager
def quiet_side_effects() -> Iterator[None]:
    """Drop send_outbound enqueues and realtime publishes while the demo is built."""
    original_enqueue = actions.enqueue_on_commit
    original_publish = realtime.publish_now

    def enqueue_except_sends(task_name: str, *args: Any, countdown: float | None = None) -> None:
        if task_name != actions.SEND_OUTBOUND_TASK:
            original_enqueue(task_name, *args, countdown=countdown)

    def no_publish(group: str, payload: dict[str, Any]) -> None:
        return None

    actions.enqueue_on_commit = enqueue_except_sends
    realtime.publish_now = no_publish
    try:
        yield
    finally:
        actions.enqueue_on_commit = original_enqueue
        realtime.publish_now = original_publish


@dataclass
class DemoReport:
    created: bool
    password: str = ""
    agents: list[str] = field(default_factory=list)
    inboxes: list[str] = field(default_factory=list)
    contacts: int = 0
    conversations: int = 0
    entries: int = 0
    warnings: list[str] = field(default_factory=list)


CUSTOMER_OPENERS = (
    "Hi, my order {n} still hasn't arrived. Can you check where it is?",
    "Hello, I was charged twice for my subscription this month.",
    "I can't log in to my account, the password reset e-mail never comes.",
    "The headphones I bought last week stopped charging.",
    "Could I change the delivery address for order {n}?",
    "Bok, zanima me kada stiže moja narudžba {n}?",
    "Pozdrav, trebam račun za narudžbu {n} na firmu.",
    "Do you offer a discount for ordering 20 laptops for our office?",
)
CUSTOMER_FOLLOWUPS = (
    "Thanks! Any news on this?",
    "I tried that, still the same problem.",
    "Here is the order number again: {n}.",
    "Hvala, to je riješilo problem!",
    "Great, that worked. Thank you!",
    "Can you call me back about it? It's urgent.",
)
AGENT_REPLIES = (
    "Thanks for reaching out! I've checked order {n}: it leaves our warehouse today.",
    "Sorry about that. I've refunded the duplicate charge, you'll see it in 3-5 days.",
    "I've sent a new reset link; please check the spam folder too.",
    "Could you send us a photo of the charger? We'll ship a replacement right away.",
    "Done, the delivery address is updated. You'll get a new tracking link.",
    "Pozdrav! Narudžba {n} stiže sutra, šaljemo vam broj za praćenje.",
    "Of course, I've attached a quote with our volume discount.",
)
NOTES = (
    "Customer is a reseller, check the B2B price list.",
    "Second complaint about the courier this month; flagged to logistics.",
    "Refund approved by finance (FIN-{n}).",
)


def _identity(channel: str, index: int) -> IdentityRef | None:
    """The identity a message on `channel` carries for demo customer `index`."""
    if channel == Channel.EMAIL:
        return None  # every message carries the e-mail anyway
    if channel in (Channel.SMS, Channel.WHATSAPP, Channel.PHONE):
        return normalize(IdentityKind.PHONE, f"+3859{index + 10:02d}1234{index % 10}")
    kinds: dict[str, str] = {
        Channel.CHAT: IdentityKind.CHAT,
        Channel.MESSENGER: IdentityKind.MESSENGER,
        Channel.INSTAGRAM: IdentityKind.INSTAGRAM,
        Channel.TELEGRAM: IdentityKind.TELEGRAM,
        Channel.API: IdentityKind.API,
    }
    kind = kinds.get(channel)
    return IdentityRef(kind, f"demo-{kind}-{index}") if kind else None


class _Builder:
    def __init__(self, rnd: random.Random, inbox_for_channel: dict[str, int | None]) -> None:
        import time_machine

        self.time_machine = time_machine
        self.rnd = rnd
        self.inboxes = {c: i for c, i in inbox_for_channel.items() if i is not None}
        self.admin: Agent | None = None
        self.teams: list[Team] = []

    def at(self, when: datetime) -> Any:
        return self.time_machine.travel(when, tick=False)

    def inbound(
        self, index: int, name: str, email: str, channel: str, body: str, when: datetime
    ) -> Conversation:
        refs = [normalize(IdentityKind.EMAIL, email)]
        extra = _identity(channel, index)
        if extra is not None:
            refs.insert(0, extra)
        msg = InboundMessage(
            inbox_id=self.inboxes[channel],
            channel=channel,
            identities=refs,
            contact_name=name,
            body=body,
            subject="Question about my order" if channel == Channel.EMAIL else "",
            provider_id=f"demo-{index}-{when.timestamp():.0f}",
            occurred_at=when,
        )
        with self.at(when), transaction.atomic():
            recorded = actions.record_inbound(msg)
        return recorded.entry.conversation

    def reply(
        self, conversation: Conversation, agent: Agent, body: str, when: datetime
    ) -> Entry | None:
        """The agent answers on the customer's last channel; a phone call is answered
        by SMS (or e-mail), which the timeline shows as a channel switch."""
        conversation.refresh_from_db()
        default = actions.default_reply_channel(conversation)
        channel = default
        if channel == Channel.PHONE or channel not in self.inboxes:
            channel = next(
                (c for c in (Channel.SMS, Channel.EMAIL) if c in self.inboxes),
                next(iter(self.inboxes)),
            )
        with self.at(when), transaction.atomic():
            entry = actions.reply(
                conversation,
                agent,
                body,
                via=channel if channel != default else None,
                inbox_id=self.inboxes[channel],
            )
            # What a worker records after a successful send: claimed, sent, delivered.
            if actions.claim_for_sending(entry.pk) is not None:
                actions.mark_delivery(
                    entry.pk, Entry.Delivery.SENT, provider_id=f"demo-out-{entry.public_id}"
                )
                final = self.rnd.choice((Entry.Delivery.DELIVERED, Entry.Delivery.READ))
                actions.mark_delivery(entry.pk, final)
        return entry

    def note(self, conversation: Conversation, agent: Agent, body: str, when: datetime) -> None:
        with self.at(when):
            actions.add_note(conversation, agent, body)

    def assign(self, conversation: Conversation, agent: Agent, team: Team, when: datetime) -> None:
        with self.at(when):
            actions.assign(conversation, self.admin, assignee=agent, team=team)

    def status(self, conversation: Conversation, agent: Agent, status: str, when: datetime) -> None:
        kwargs: dict[str, Any] = {"at": when}
        if status == Conversation.Status.SNOOZED:
            kwargs["snoozed_until"] = timezone.now() + timedelta(days=2)
        with self.at(when):
            actions.set_status(conversation, agent, status, **kwargs)


def _agent(email: str, name: str, password: str, **extra: Any) -> Agent:
    existing = Agent.objects.filter(email=email).first()
    if existing is not None:
        return existing
    return Agent.objects.create_user(email, password, name=name, **extra)


def build_demo(*, seed: int = 1, warn: Any = None) -> DemoReport:
    """Create the demo workspace once; a second run changes nothing (created=False)."""
    if Agent.objects.filter(email=ADMIN_EMAIL).exists():
        return DemoReport(created=False)
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    rnd = random.Random(seed)  # noqa: S311 - fake data, reproducible by --seed
    report = DemoReport(created=True, password=password)
    warnings: list[str] = report.warnings

    def note_warning(text: str) -> None:
        warnings.append(text)
        if warn is not None:
            warn(text)

    with quiet_side_effects(), transaction.atomic():
        admin = Agent.objects.create_superuser(ADMIN_EMAIL, password, name="Demo Admin")
        report.agents.append(ADMIN_EMAIL)
        teams: dict[str, list[Agent]] = {}
        team_objs: dict[str, Team] = {}
        for team_name, people in TEAM_AGENTS.items():
            team = Team.objects.get_or_create(name=team_name)[0]
            team_objs[team_name] = team
            members = [_agent(email, name, password) for email, name in people]
            team.members.add(*members)
            teams[team_name] = members
            report.agents += [a.email for a in members]
        inbox_for_channel = inboxes_by_channel(
            "demo", [t.pk for t in team_objs.values()], warn=note_warning
        )
        builder = _Builder(rnd, inbox_for_channel)
        builder.admin = admin
        available = [c for c in Channel.values if c in builder.inboxes]
        if not available:
            raise RuntimeError("no inbox kind could be created for the demo")
        now = timezone.now()
        for index, name in enumerate(CUSTOMERS):
            _customer_history(builder, rnd, index, name, available, teams, team_objs, now)
    from channels_in.models import Inbox

    report.inboxes = list(
        Inbox.objects.filter(slug__startswith="demo-").values_list("slug", flat=True)
    )
    report.contacts = len(CUSTOMERS)
    report.conversations = (
        Conversation.objects.filter(contact__identities__value__endswith="@demo.example.com")
        .distinct()
        .count()
    )
    report.entries = (
        Entry.objects.filter(contact__identities__value__endswith="@demo.example.com")
        .distinct()
        .count()
    )
    return report


def _customer_history(
    b: _Builder,
    rnd: random.Random,
    index: int,
    name: str,
    available: list[str],
    teams: dict[str, list[Agent]],
    team_objs: dict[str, Team],
    now: datetime,
) -> None:
    """One to three conversations over the past weeks, wandering across channels."""
    email = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() + "@demo.example.com"
    # A path through the channels this workspace has: e-mail, then chat, WhatsApp...
    order = [
        c
        for c in (
            Channel.EMAIL,
            Channel.CHAT,
            Channel.WHATSAPP,
            Channel.PHONE,
            Channel.SMS,
            Channel.TELEGRAM,
            Channel.MESSENGER,
            Channel.INSTAGRAM,
            Channel.API,
        )
        if c in available
    ]
    offset = index % len(order)
    path = order[offset:] + order[:offset]
    n_conversations = 1 + index % 3
    # Conversations 8 days apart, each over within 3 days; the latest ends days ago.
    start = now - timedelta(days=8 * n_conversations + rnd.randint(2, 20), hours=rnd.randint(0, 23))
    order_no = rnd.randint(10_000, 99_999)
    team_name = "Sales" if index % 4 == 0 else "Support"
    for number in range(n_conversations):
        latest = number == n_conversations - 1
        t = start + timedelta(days=number * 8, minutes=rnd.randint(0, 600))
        channel = path[number % len(path)]
        conversation = b.inbound(
            index, name, email, channel, rnd.choice(CUSTOMER_OPENERS).format(n=order_no), t
        )
        agent = rnd.choice(teams[team_name])
        t += timedelta(minutes=rnd.randint(2, 30))
        b.assign(conversation, agent, team_objs[team_name], t)
        t += timedelta(minutes=rnd.randint(5, 240))
        b.reply(conversation, agent, rnd.choice(AGENT_REPLIES).format(n=order_no), t)
        if rnd.random() < 0.4:
            t += timedelta(minutes=rnd.randint(1, 30))
            b.note(conversation, agent, rnd.choice(NOTES).format(n=order_no), t)
        # The customer comes back on the next channel of their path.
        next_channel = path[(number + 1) % len(path)]
        t += timedelta(hours=rnd.randint(1, 30))
        conversation = b.inbound(
            index, name, email, next_channel, rnd.choice(CUSTOMER_FOLLOWUPS).format(n=order_no), t
        )
        if latest and index % 5 == 0:
            continue  # open, waiting for us
        t += timedelta(minutes=rnd.randint(10, 300))
        b.reply(conversation, agent, rnd.choice(AGENT_REPLIES).format(n=order_no), t)
        t += timedelta(minutes=rnd.randint(5, 120))
        if latest and index % 5 == 1:
            b.status(conversation, agent, Conversation.Status.PENDING, t)
        elif latest and index % 5 == 2:
            continue  # open, answered
        else:
            b.status(conversation, agent, Conversation.Status.RESOLVED, t)
