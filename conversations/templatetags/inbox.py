"""Display helpers for the agent inbox: channel badges, waiting times, event sentences."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from django import template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, normalize_newlines
from django.utils.timezone import localtime
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from conversations.models import Channel, Conversation, Entry

register = template.Library()

CHANNEL_COLORS = {
    "email": "#2563eb",
    "chat": "#7c3aed",
    "phone": "#0891b2",
    "sms": "#0d9488",
    "whatsapp": "#16a34a",
    "messenger": "#0866ff",
    "instagram": "#db2777",
    "telegram": "#0ea5e9",
    "api": "#64748b",
}

# 16x16 stroke icons (Lucide-style paths), drawn in currentColor.
_ICONS = {
    "email": '<rect x="2" y="4" width="20" height="16" rx="2"/><path d="m22 7-10 6L2 7"/>',
    "chat": '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
    "phone": '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.5 2.1L8 9.9a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2z"/>',  # noqa: E501
    "sms": '<path d="M7.9 20A9 9 0 1 0 4 16.1L2 22z"/><path d="M8 12h.01M12 12h.01M16 12h.01"/>',
    "whatsapp": '<path d="M3 21l1.6-4.6A8.5 8.5 0 1 1 7.9 19.6z"/><path d="M9 9.5c0 3 2.5 5.5 5.5 5.5l1-1.5-2-1-1 1c-1 0-2.5-1.5-2.5-2.5l1-1-1-2z"/>',  # noqa: E501
    "messenger": '<path d="M12 2C6.5 2 2 6.1 2 11.2c0 2.9 1.4 5.4 3.7 7.1V22l3.4-1.9c.9.3 1.9.4 2.9.4 5.5 0 10-4.1 10-9.2S17.5 2 12 2z"/><path d="m7 14 3.5-3.7 2.2 2.2L17 9"/>',  # noqa: E501
    "instagram": '<rect x="2" y="2" width="20" height="20" rx="5"/><circle cx="12" cy="12" r="4"/><path d="M17.5 6.5h.01"/>',  # noqa: E501
    "telegram": '<path d="m22 2-7 20-4-9-9-4z"/><path d="M22 2 11 13"/>',
    "api": '<path d="m16 18 6-6-6-6M8 6l-6 6 6 6"/>',
}


@register.simple_tag
def channel_icon(channel: str, size: int = 16) -> SafeString:
    return _channel_icon(channel, size, get_language())


@lru_cache(maxsize=256)
def _channel_icon(channel: str, size: int, language: str | None) -> SafeString:
    # Cached: list pages draw dozens of these; the label depends on the language.
    paths = _ICONS.get(channel, _ICONS["api"])
    label = dict(Channel.choices).get(channel, channel)
    return format_html(
        '<svg class="icon" width="{}" height="{}" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        'stroke-linejoin="round" role="img" aria-label="{}">{}</svg>',
        size,
        size,
        label,
        mark_safe(paths),  # noqa: S308 - constant markup above
    )


@register.simple_tag
def channel_badge(channel: str) -> SafeString:
    return _channel_badge(channel, get_language())


@lru_cache(maxsize=64)
def _channel_badge(channel: str, language: str | None) -> SafeString:
    if not channel:
        return mark_safe("")  # noqa: S308
    label = dict(Channel.choices).get(channel, channel)
    return format_html(
        '<span class="badge ch ch-{}" style="--ch:{}">{}<span>{}</span></span>',
        channel,
        CHANNEL_COLORS.get(channel, "#64748b"),
        channel_icon(channel, 13),
        label,
    )


@register.filter
def channel_color(channel: str) -> str:
    return CHANNEL_COLORS.get(channel, "#64748b")


@register.filter
def short_age(when: datetime | None) -> str:
    """12s, 5m, 3h, 2d: how long ago, compactly (the list's waiting column)."""
    return _short_age(when, timezone.now(), _age_units())


def _age_units() -> tuple[str, str, str, str]:
    return _("%(n)ds"), _("%(n)dm"), _("%(n)dh"), _("%(n)dd")


def _short_age(when: datetime | None, now: datetime, units: tuple[str, str, str, str]) -> str:
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return units[0] % {"n": seconds}
    if seconds < 3600:
        return units[1] % {"n": seconds // 60}
    if seconds < 86400:
        return units[2] % {"n": seconds // 3600}
    return units[3] % {"n": seconds // 86400}


@register.filter
def initials(name: str) -> str:
    parts = [p for p in (name or "").replace("@", " ").split() if p]
    return ("".join(p[0] for p in parts[:2]) or "?").upper()


@register.filter
def avatar_hue(value: Any) -> int:
    return sum(ord(c) for c in str(value)) * 47 % 360


@register.filter
def duration(seconds: Any) -> str:
    try:
        total = int(seconds)
    except (TypeError, ValueError):
        return ""
    return f"{total // 60}:{total % 60:02d}"


@register.simple_tag
def event_text(entry: Entry) -> str:
    """One readable sentence for an event entry."""
    p = entry.parameters or {}
    who = entry.author.display_name if entry.author_id and entry.author else _("System")
    statuses = {
        "open": _("open"),
        "pending": _("pending"),
        "snoozed": _("snoozed"),
        "resolved": _("resolved"),
    }
    channels = dict(Channel.choices)
    event = entry.event
    if event == "status_changed":
        text = _("%(who)s changed the status to %(to)s") % {
            "who": who,
            "to": statuses.get(p.get("to", ""), p.get("to", "")),
        }
        if p.get("until"):
            text += " " + _("until %(until)s") % {"until": p["until"][:16].replace("T", " ")}
        return text
    if event == "assigned":
        if p.get("assignee_name"):
            return _("%(who)s assigned %(agent)s") % {"who": who, "agent": p["assignee_name"]}
        return _("%(who)s unassigned the conversation") % {"who": who}
    if event == "reopened":
        return _("Conversation reopened")
    if event == "priority_changed":
        return _("%(who)s set priority to %(to)s") % {"who": who, "to": p.get("to", "")}
    if event == "labels_changed":
        parts = [f"+{n}" for n in p.get("added", [])] + [f"−{n}" for n in p.get("removed", [])]
        return _("%(who)s changed labels %(labels)s") % {"who": who, "labels": " ".join(parts)}
    if event == "channel_switched":
        return _("%(who)s switched channel from %(from)s to %(to)s") % {
            "who": who,
            "from": channels.get(p.get("from", ""), p.get("from", "")),
            "to": channels.get(p.get("to", ""), p.get("to", "")),
        }
    if event == "contacts_merged":
        return _("%(who)s merged contact %(name)s into this one") % {
            "who": who,
            "name": p.get("source_name") or f"#{p.get('source_contact')}",
        }
    if event == "delivery_failed":
        return _("Delivery failed: %(reason)s") % {"reason": p.get("reason", "")}
    if event == "survey_answered":
        return _("Survey answered: %(survey)s %(score)s") % {
            "survey": str(p.get("survey", "")).upper(),
            "score": p.get("score", ""),
        }
    if event == "survey_requested":
        return _("%(survey)s survey sent") % {"survey": str(p.get("survey", "")).upper()}
    if event == "call_started":
        if p.get("direction") == "outbound":
            return _("%(who)s started a call") % {"who": who}
        return _("Incoming call")
    if event == "call_answered":
        return _("Call answered by %(name)s") % {"name": p.get("answered_by") or _("an agent")}
    if event == "call_missed":
        return _("Missed call, voicemail left") if p.get("voicemail") else _("Missed call")
    if event == "call_ended":
        text = _("Call ended (%(status)s)") % {"status": p.get("status", "")}
        if p.get("duration"):
            text += " · " + duration(p["duration"])
        return text
    if event == "callback_requested":
        return _("Callback requested to %(number)s") % {"number": p.get("number", "")}
    return event.replace("_", " ").capitalize()


# --- rows of the conversation list, rendered in Python ---------------------------------
#
# The list draws 25 rows of about thirty values each. Through the template engine that
# was ~1 ms of CPU per row (variable lookups, a translation lookup per string, number
# localization of every id), most of the page's time. This renders the same markup
# with the translations and formats looked up once per page.


def _truncate(text: str, length: int) -> str:
    """The truncatechars filter, without its per-character walk for short texts."""
    if len(text) <= length:
        return unicodedata.normalize("NFC", text)
    return Truncator(text).chars(length)


@register.simple_tag
def conversation_rows(conversations: Iterable[Conversation]) -> SafeString:
    """The <li> rows of conversations/snippets/rows.html, one per conversation."""
    language = get_language()
    select = _("Select #%(n)s")
    waiting_since = _esc(_("Waiting for a reply since"))
    unassigned = f'<span class="muted">{_esc(_("Unassigned"))}</span>'
    datetime_format = get_format("DATETIME_FORMAT")
    now, units = timezone.now(), _age_units()
    statuses = {k: _esc(v) for k, v in Conversation.Status.choices}
    priorities = {k: _esc(v) for k, v in Conversation.Priority.choices}
    # reverse() once: the detail URL with a marker where the number goes.
    url_pattern = reverse("conversations:detail", args=[_URL_MARKER])
    parts = []
    for c in conversations:
        pk = str(c.pk)
        name = c.contact.display_name
        chans = ""
        if c.first_channel:
            chans = _chan(c.first_channel, language)
        if c.last_inbound_channel and c.last_inbound_channel != c.first_channel:
            chans += _chan(c.last_inbound_channel, language)
        if c.waiting_since:
            stamp = dateformat.format(localtime(c.waiting_since), datetime_format)
            age = (
                f'<span class="wait" title="{waiting_since} {_esc(stamp)}">'
                f"{_esc(_short_age(c.waiting_since, now, units))}</span>"
            )
        else:
            age = f'<span class="age">{_esc(_short_age(c.last_message_at, now, units))}</span>'
        subject = f'<span class="subject">{_esc(c.subject)}</span> · ' if c.subject else ""
        priority = (
            f'<span class="pill prio {_esc(c.priority)}">'
            f"{priorities.get(c.priority) or _esc(c.priority)}</span>"
            if c.priority != "normal"
            else ""
        )
        label_list = getattr(c, "label_list", None)  # listing.attach_labels
        if label_list is None:
            label_list = [(label.name, label.color) for label in c.labels.all()]
        labels = "".join(
            f'<span class="pill label" style="--lc:{_esc(color)}">{_esc(name)}</span>'
            for name, color in label_list
        )
        assignee = c.assignee
        if assignee is not None:
            who = (
                f'<span class="avatar xs" style="--hue:{avatar_hue(assignee.email)}" '
                f'aria-hidden="true">{_esc(initials(assignee.display_name))}</span>'
                f"{_esc(assignee.display_name)}"
            )
        else:
            who = unassigned
        status = _esc(c.status)
        preview = _esc(_truncate(getattr(c, "preview", None) or "", 140))
        parts.append(
            f'\n<li class="row status-{status}{" waiting" if c.waiting_since else ""}" '
            f'data-conversation="{pk}">\n'
            f'  <label class="check"><input type="checkbox" name="ids" value="{pk}" '
            f'aria-label="{_esc(select % {"n": pk})}"></label>\n'
            f'  <a class="row-link" href="{_esc(url_pattern.replace(_URL_MARKER, pk))}">\n'
            f'    <span class="avatar" style="--hue:{avatar_hue(c.contact_id)}" '
            f'aria-hidden="true">{_esc(initials(name))}</span>\n'
            '    <span class="row-main">\n'
            '      <span class="row-top">\n'
            f'        <strong class="name">{_esc(name)}</strong>\n'
            f'        <span class="chans">{chans}</span>\n'
            f'        <span class="num">#{pk}</span>\n'
            f"        {age}\n"
            "      </span>\n"
            f'      <span class="preview">{subject}{preview}</span>\n'
            '      <span class="row-meta">\n'
            f'        <span class="pill status {status}">'
            f"{statuses.get(c.status) or status}</span>\n"
            f"        {priority}\n"
            f"        {labels}\n"
            f'        <span class="assignee">{who}</span>\n'
            "      </span>\n"
            "    </span>\n"
            "  </a>\n"
            "</li>\n"
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


_URL_MARKER = "8080808080"  # digits, so it matches the <int:pk> converter


def _esc(value: object) -> str:
    """django.utils.html.escape without its lazy-string and SafeString wrappers (the
    same characters escaped), for markup built in Python."""
    return html.escape(str(value))


def _chan(channel: str, language: str | None) -> str:
    return (
        f'<span class="chan" style="--ch:{CHANNEL_COLORS.get(channel, "#64748b")}">'
        f"{_channel_icon(channel, 14, language)}</span>"
    )


# --- timeline entries, rendered in Python ------------------------------------------------
#
# A conversation page draws up to 60 entries; through {% include %} and the template
# engine each cost about as much as a list row did. Same markup, built here.


@register.simple_tag(takes_context=True)
def timeline_entries(context: template.Context, entries: Iterable[Entry]) -> SafeString:
    """The <li> of conversations/snippets/entry.html for each entry. Reads `contact`
    (the page's contact, so inbound entries need no query), `conversation` (entries
    of other conversations get a link) and `csrf_token` from the context."""
    words = _EntryWords(context)
    return mark_safe("".join(_entry(entry, words) for entry in entries))  # noqa: S308


@register.simple_tag(takes_context=True)
def timeline_entry(context: template.Context, entry: Entry) -> SafeString:
    return mark_safe(_entry(entry, _EntryWords(context)))  # noqa: S308 - escaped parts


class _EntryWords:
    """What every entry of a page shares: translations, the context's objects."""

    def __init__(self, context: template.Context) -> None:
        self.language = get_language()
        contact = context.get("contact")
        self.contact_name = _esc(contact.display_name) if contact else None
        conversation = context.get("conversation")
        self.conversation_id = conversation.pk if conversation else None
        self._csrf_token = context.get("csrf_token")
        self.agent = _esc(_("Agent"))
        self.private_note = _esc(_("Private note"))
        self.automatic = _esc(_("Automatic"))
        self.incoming_call = _esc(_("Incoming call"))
        self.outgoing_call = _esc(_("Outgoing call"))
        self.retry = _esc(_("Retry"))
        self.deliveries = {k: _esc(v) for k, v in Entry.Delivery.choices}
        self.detail_url = reverse("conversations:detail", args=[_URL_MARKER])

    @cached_property
    def csrf(self) -> str:
        """{% csrf_token %}; only asked for when drawn (it may set the CSRF cookie)."""
        token = self._csrf_token
        if not token or token == "NOTPROVIDED":  # noqa: S105 - the csrf_token tag's marker
            return ""
        return f'<input type="hidden" name="csrfmiddlewaretoken" value="{_esc(token)}">'


def _entry(entry: Entry, w: _EntryWords) -> str:
    public_id = str(entry.public_id)
    at = entry.occurred_at.isoformat()
    shown_at = _esc(dateformat.format(localtime(entry.occurred_at), "M j, H:i"))
    head = (
        f'<li class="entry kind-{_esc(entry.kind)}{" auto" if entry.is_auto else ""}" '
        f'id="e-{public_id}" data-entry="{public_id}" data-at="{at}">\n'
    )
    if entry.kind == "event":
        icon = f"{_channel_icon(entry.channel, 13, w.language)} " if entry.channel else ""
        return (
            f'{head}\n  <div class="event"><span class="event-line">{icon}'
            f"{_esc(event_text(entry))}</span> "
            f'<time datetime="{at}">{shown_at}</time></div>\n\n</li>\n'
        )
    if entry.kind == "inbound":
        name = w.contact_name if w.contact_name is not None else _esc(entry.contact.display_name)
        who = f"<strong>{name}</strong>"
    elif entry.kind == "note":
        author = entry.author.display_name if entry.author else ""
        who = (
            f"<strong>{_esc(author) or w.agent}</strong> "
            f'<span class="pill note-tag">{w.private_note}</span>'
        )
    else:
        author = _esc(entry.author.display_name) if entry.author else w.automatic
        who = f"<strong>{author}</strong>"
    badge = _channel_badge(entry.channel, w.language) if entry.kind != "note" else ""
    ref = ""
    if w.conversation_id is not None and entry.conversation_id != w.conversation_id:
        number = str(entry.conversation_id)
        ref = (
            f'<a class="pill conv-ref" href="{w.detail_url.replace(_URL_MARKER, number)}">'
            f"#{number}</a>"
        )
    parts = [
        f'{head}\n  <div class="bubble">\n    <div class="meta">\n      {who}\n      {badge}\n'
        f'      {ref}\n      <time datetime="{at}">{shown_at}</time>\n    </div>\n    '
    ]
    if entry.subject:
        parts.append(f'<p class="subj">{_esc(entry.subject)}</p>')
    parts.append("\n    ")
    if entry.body:
        text = _esc(normalize_newlines(entry.body)).replace("\n", "<br>")
        parts.append(f'<div class="text">{text}</div>')
    parts.append("\n    ")
    p = entry.parameters if isinstance(entry.parameters, dict) else {}
    if entry.channel == "phone" and p.get("status"):
        direction = w.incoming_call if entry.kind == "inbound" else w.outgoing_call
        call = [
            f'<div class="call">{_channel_icon("phone", 14, w.language)} {direction} · '
            f"{_esc(p['status'])}"
        ]
        if p.get("duration"):
            call.append(f" · {_esc(duration(p['duration']))}")
        if p.get("recording_url"):
            call.append(f'<audio controls preload="none" src="{_esc(p["recording_url"])}"></audio>')
        if p.get("transcript"):
            call.append(f'<p class="muted small">{_esc(p["transcript"])}</p>')
        parts.append("".join(call) + "</div>")
    parts.append("\n    ")
    attachments = getattr(entry, "attachment_list", None)  # timeline.attach_attachments
    if attachments is None:
        attachments = entry.attachments.all()
    if attachments:
        items = []
        for a in attachments:
            name = _esc(a.filename)
            if a.is_image and a.file:
                url = _esc(a.file.url)
                items.append(
                    f'<li><a href="{url}"><img src="{url}" alt="{name}" loading="lazy"></a></li>'
                )
            elif a.file:
                items.append(f'<li><a class="file" href="{_esc(a.file.url)}">{name}</a></li>')
            else:
                items.append(f'<li><span class="file">{name}</span></li>')
        parts.append(f'<ul class="atts">{"".join(items)}</ul>')
    parts.append("\n    ")
    if entry.kind == "outbound" and entry.delivery_status:
        status = _esc(entry.delivery_status)
        label = w.deliveries.get(entry.delivery_status) or status
        parts.append(
            f'\n    <div class="delivery" data-delivery="{status}">\n'
            f'      <span class="dstatus {status}" data-delivery-label>{label}</span>\n      '
        )
        if entry.delivery_status == "failed":
            action = reverse("conversations:retry", args=[entry.conversation_id, public_id])
            parts.append(
                f'<span class="derror" data-delivery-error>{_esc(entry.delivery_error)}</span>\n'
                f'      <form method="post" action="{_esc(action)}" class="inline" data-ajax>'
                f'{w.csrf}<button class="btn sm">{w.retry}</button></form>'
            )
        parts.append("\n    </div>\n    ")
    parts.append("\n  </div>\n\n</li>\n")
    return "".join(parts)
