"""The live chat inbox: the embeddable widget's configuration and its outbound leg.

Inbound chat skips the webhook hop: the widget's websocket consumer (widget/consumers.py)
builds the InboundMessage itself. Outbound, the visitor already got the reply live
through realtime.visitor_group when the entry was created (or sees it when the
widget reconnects), so send() only confirms it with a provider id.

Config keys (`inbox add chat <slug> --set key=value`):
    allowed_origins  comma-separated origins allowed to embed the widget
                     (e.g. "https://shop.example.com"); "*" allows any; empty
                     allows only this help desk's own hosts (the demo page)
    title, greeting  texts shown in the panel header and as the first line
    color            launcher and header colour, #rrggbb
    position         "right" (default) or "left"
    language         widget language ("en", "hr"); default LANGUAGE_CODE
    prechat_fields   comma-separated fields asked before the first message:
                     name, email, phone or any custom key; "*" marks required
                     (e.g. "name*,email*,company")
    business_hours   e.g. "mon-fri 09:00-17:00; sat 10:00-14:00" (empty: always)
    time_zone        IANA zone of business_hours; default TIME_ZONE
Secret: identity_secret, the key of identifier_hash = HMAC-SHA256(identifier, key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest

from channels_in.base import BadPayload, ChannelAdapter, ParsedItem
from channels_in.models import InboundEvent
from conversations.models import Channel, Entry

PROVIDER_PREFIX = "chat:"
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$"
)
DEFAULT_COLOR = "#2563eb"


def identity_hash(identifier: str, secret: str) -> str:
    """What the host site computes on its server: hex HMAC-SHA256(identifier, secret)."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PrechatField:
    name: str
    required: bool


@dataclass(frozen=True)
class Opening:
    weekday: int  # 0 = Monday
    start: time
    end: time


def parse_business_hours(spec: str) -> list[Opening]:
    """'mon-fri 09:00-17:00; sat 10:00-14:00' -> openings; raise ValueError saying why."""
    openings: list[Opening] = []
    for part in filter(None, (p.strip().lower() for p in spec.replace("\n", ";").split(";"))):
        match = _HOURS_RE.match(part)
        if not match:
            raise ValueError(f"cannot read business hours {part!r}; use 'mon-fri 09:00-17:00'")
        first, last = match["first"], match["last"] or match["first"]
        if first not in _DAYS or last not in _DAYS:
            raise ValueError(f"unknown day in {part!r}; use mon, tue, ... sun")
        try:
            start = time.fromisoformat(match["start"].zfill(5))
            end = time.fromisoformat(match["end"].zfill(5))
        except ValueError as exc:
            raise ValueError(f"bad time in {part!r}") from exc
        if end <= start:
            raise ValueError(f"closing time before opening time in {part!r}")
        a, b = _DAYS.index(first), _DAYS.index(last)
        days = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
        openings += [Opening(day, start, end) for day in days]
    return openings


class ChatAdapter(ChannelAdapter):
    kind = "chat"
    channels = (Channel.CHAT,)
    config_keys: ClassVar[tuple[str, ...]] = (
        "allowed_origins",
        "title",
        "greeting",
        "color",
        "position",
        "language",
        "prechat_fields",
        "business_hours",
        "time_zone",
    )
    secret_keys: ClassVar[tuple[str, ...]] = ("identity_secret",)

    # --- inbound: none over HTTP ---------------------------------------------
    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        raise BadPayload("chat messages arrive over the widget websocket, not as events")

    def identify(self, request: HttpRequest, topic: str) -> str:
        raise BadPayload("chat messages arrive over the widget websocket")

    # --- outbound --------------------------------------------------------------
    def send(self, entry: Entry) -> str:
        """The push already happened on commit (visitor group); confirm with an id."""
        return f"{PROVIDER_PREFIX}{entry.public_id}"

    def unavailable_reason(self, entry_channel: str, contact_id: int) -> str:
        """The composer's hint: a visitor who left the chat is better reached by e-mail.

        Only when that is possible (an e-mail identity and an active e-mail inbox): a
        visitor without one still gets chat replies when the widget opens again.
        """
        from django.utils.translation import gettext as _

        from channels_in.models import Inbox
        from conversations import presence
        from conversations.models import Identity

        if presence.visitor_online(contact_id):
            return ""
        reachable_by_email = (
            Identity.objects.filter(contact_id=contact_id, kind="email").exists()
            and Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True).exists()
        )
        if reachable_by_email:
            return str(_("The visitor has left the chat; reply by e-mail to reach them."))
        return ""

    # --- configuration -----------------------------------------------------------
    def allowed_origins(self) -> list[str]:
        raw = self.inbox.setting("allowed_origins", "")
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return [str(o).strip().rstrip("/").lower() for o in items if str(o).strip()]

    def origin_allowed(self, origin: str | None, own_host: str = "") -> bool:
        """Is a page at `origin` allowed to run this inbox's widget?

        Pages served by this help desk itself (the demo) always are: their origin is
        the host they connect to. A missing Origin (a non-browser client) is not:
        browsers always send it on websockets and cross-origin requests.
        """
        if not origin:
            return False
        origin = origin.strip().rstrip("/").lower()
        allowed = self.allowed_origins()
        if "*" in allowed or origin in allowed:
            return True
        netloc = urlsplit(origin).netloc
        return bool(own_host) and netloc == own_host.strip().lower()

    def identity_is_valid(self, identifier: str, given_hash: str) -> bool:
        """Constant-time check of the host site's identifier_hash; fails closed."""
        secret = self.inbox.get_secret("identity_secret")
        if not secret or not identifier or not given_hash:
            return False
        expected = identity_hash(identifier, secret)
        return hmac.compare_digest(expected.encode(), given_hash.strip().lower().encode())

    def color(self) -> str:
        value = str(self.inbox.setting("color", "") or "")
        return value if _COLOR_RE.match(value) else DEFAULT_COLOR

    def position(self) -> str:
        return "left" if self.inbox.setting("position", "") == "left" else "right"

    def language(self) -> str:
        wanted = str(self.inbox.setting("language", "") or settings.LANGUAGE_CODE)
        codes = [code for code, _name in settings.LANGUAGES]
        return wanted if wanted in codes else settings.LANGUAGE_CODE

    def prechat_fields(self) -> list[PrechatField]:
        fields = []
        for raw in str(self.inbox.setting("prechat_fields", "") or "").split(","):
            name = raw.strip()
            required = name.endswith("*")
            name = name.rstrip("*").strip().lower()
            if re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                fields.append(PrechatField(name, required))
        return fields

    def time_zone(self) -> ZoneInfo:
        name = str(self.inbox.setting("time_zone", "") or settings.WORKSPACE_TIME_ZONE)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def in_business_hours(self, when: datetime) -> bool:
        """True when `when` (aware) falls in the inbox's hours; no hours means always.

        Evaluated in the inbox's zone on wall-clock time, so 09:00 stays 09:00 across
        DST changes; a malformed spec counts as always open rather than never.
        """
        spec = str(self.inbox.setting("business_hours", "") or "")
        if not spec.strip():
            return True
        try:
            openings = parse_business_hours(spec)
        except ValueError:
            return True
        local = when.astimezone(self.time_zone())
        now = local.time().replace(tzinfo=None)
        return any(o.weekday == local.weekday() and o.start <= now < o.end for o in openings)

    def check_settings(self) -> list[str]:
        problems = super().check_settings()
        try:
            parse_business_hours(str(self.inbox.setting("business_hours", "") or ""))
        except ValueError as exc:
            problems.append(f"inbox {self.inbox.slug!r}: {exc}")
        return problems
