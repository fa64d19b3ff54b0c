"""The voice TwiML, built synchronously while Twilio waits on the line.

Everything here is a pure function of the inbox's settings, the team's agents and
the request Twilio sent: no worker is involved, and nothing waits on one. URLs are
relative paths; Twilio resolves them against the URL it called (so PUBLIC_URL and
the signature check agree).

The caller's path: greeting -> optional IVR menu (<Gather> digit -> team) -> ring
the team's agents at their phone numbers (<Dial> with a timeout) -> voicemail
(<Record> with recording and transcription callbacks). A team with no agent to
ring puts the caller in a queue with hold music (<Enqueue> + wait URL), and sends
them to voicemail after the same number of seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from channels_in.models import Inbox
from conversations.identities import InvalidIdentity, normalize_phone
from helpdesk.models import Agent, Team

DEFAULT_VOICEMAIL_AFTER = 20
VOICEMAIL_MAX_LENGTH = 120  # Twilio transcribes recordings of at most 2 minutes
# Twilio's own public hold music.
DEFAULT_HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"


def hook_path(inbox: Inbox, name: str) -> str:
    return reverse(f"channels_in:twilio_{name}", args=[inbox.slug])


def language(inbox: Inbox) -> str | None:
    """The <Say> language (e.g. "hr-HR"), also used to pick our translations."""
    value = str(inbox.setting("language") or "").strip()
    return value or None


def _translated(inbox: Inbox) -> Any:
    lang = language(inbox)
    return translation.override(lang.split("-")[0]) if lang else nullcontext()


def menu(inbox: Inbox) -> dict[str, str]:
    """The IVR menu, digit -> team name: a mapping, JSON, or "1=Support,2=Sales"."""
    raw = inbox.setting("menu") or {}
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except ValueError:
                return {}  # the system check reports nothing usable; callers ring the team
        else:
            raw = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k).strip(): str(v).strip() for k, v in raw.items() if str(k).strip()}


def voicemail_after(inbox: Inbox) -> int:
    try:
        seconds = int(inbox.setting("voicemail_after_seconds") or DEFAULT_VOICEMAIL_AFTER)
    except (TypeError, ValueError):
        seconds = DEFAULT_VOICEMAIL_AFTER
    return max(5, min(seconds, 600))


def agents_to_ring(team: Team | None) -> list[tuple[Agent, str]]:
    """Active agents of the team with a valid phone number, in a stable order."""
    if team is None:
        return []
    ringable = []
    for agent in team.members.filter(is_active=True).exclude(phone="").order_by("pk"):
        try:
            ringable.append((agent, normalize_phone(agent.phone)))
        except InvalidIdentity:
            continue
    return ringable


def agent_by_number(number: str) -> Agent | None:
    try:
        wanted = normalize_phone(number)
    except InvalidIdentity:
        return None
    for agent in Agent.objects.filter(is_active=True).exclude(phone=""):
        try:
            if normalize_phone(agent.phone) == wanted:
                return agent
        except InvalidIdentity:
            continue
    return None


def team_for_digit(inbox: Inbox, digits: str) -> Team | None:
    name = menu(inbox).get(digits.strip())
    if not name:
        return None
    return Team.objects.filter(name__iexact=name).first()


def _say(response: VoiceResponse | Gather, inbox: Inbox, text: str) -> None:
    response.say(text, language=language(inbox))


def answer(inbox: Inbox) -> VoiceResponse:
    """The first TwiML of an incoming call."""
    response = VoiceResponse()
    with _translated(inbox):
        greeting = str(inbox.setting("greeting") or "") or _("Thank you for calling %(name)s.") % {
            "name": inbox.name
        }
        _say(response, inbox, greeting)
        choices = menu(inbox)
        if not choices:
            _ring(response, inbox, inbox.team)
            return response
        gather = Gather(
            num_digits=1, action=hook_path(inbox, "voice_menu"), method="POST", timeout=6
        )
        _say(gather, inbox, _menu_prompt(inbox, choices))
        response.append(gather)
        # No key pressed: the menu URL without Digits rings the inbox's own team.
        response.redirect(hook_path(inbox, "voice_menu"), method="POST")
    return response


def _menu_prompt(inbox: Inbox, choices: dict[str, str]) -> str:
    prompt = str(inbox.setting("menu_prompt") or "")
    if prompt:
        return prompt
    return " ".join(
        _("For %(team)s, press %(digit)s.") % {"team": team, "digit": digit}
        for digit, team in sorted(choices.items())
    )


def menu_choice(inbox: Inbox, digits: str) -> VoiceResponse:
    """After the menu: ring the chosen team; no key rings the inbox's team."""
    response = VoiceResponse()
    with _translated(inbox):
        if not digits:
            _ring(response, inbox, inbox.team)
            return response
        team = team_for_digit(inbox, digits)
        if team is None:
            _say(response, inbox, _("Sorry, that is not one of the options."))
            response.redirect(hook_path(inbox, "voice"), method="POST")
            return response
        _ring(response, inbox, team)
    return response


def _ring(response: VoiceResponse, inbox: Inbox, team: Team | None) -> None:
    agents = agents_to_ring(team)
    if not agents:
        # Nobody to ring: wait in the team's queue with music, then voicemail.
        response.enqueue(
            f"{inbox.slug}-{team.pk if team else 'all'}",
            action=hook_path(inbox, "voice_queue"),
            method="POST",
            wait_url=hook_path(inbox, "voice_wait"),
            wait_url_method="POST",
        )
        return
    dial = Dial(
        action=hook_path(inbox, "voice_dial"),
        method="POST",
        timeout=voicemail_after(inbox),
        answer_on_bridge=True,
    )
    for _agent, number in agents:
        # All ring at once; the first to answer gets the call. Their "answered"
        # callback tells us who it was.
        dial.number(
            number,
            status_callback=hook_path(inbox, "dial_status"),
            status_callback_event="answered completed",
            status_callback_method="POST",
        )
    response.append(dial)


def hold(inbox: Inbox, queue_time: int) -> VoiceResponse:
    """The queue's wait URL: music until the voicemail time has passed, then leave."""
    response = VoiceResponse()
    if queue_time >= voicemail_after(inbox):
        response.leave()
    else:
        response.play(str(inbox.setting("hold_music_url") or DEFAULT_HOLD_MUSIC))
    return response


def after_dial(inbox: Inbox, dial_status: str) -> VoiceResponse:
    """The <Dial> action: done if someone answered, else voicemail."""
    if dial_status in ("completed", "answered"):
        response = VoiceResponse()
        response.hangup()
        return response
    return voicemail(inbox)


def after_queue(inbox: Inbox, queue_result: str) -> VoiceResponse:
    """The <Enqueue> action: voicemail unless the caller was bridged or hung up."""
    if queue_result in ("bridged", "hangup"):
        response = VoiceResponse()
        response.hangup()
        return response
    return voicemail(inbox)


def voicemail(inbox: Inbox) -> VoiceResponse:
    response = VoiceResponse()
    with _translated(inbox):
        prompt = str(inbox.setting("voicemail_greeting") or "") or _(
            "Nobody can take your call right now. Please leave a message after the "
            "tone, and press the hash key when you are done."
        )
        _say(response, inbox, prompt)
        response.record(
            action=hook_path(inbox, "voice_voicemail"),
            method="POST",
            max_length=VOICEMAIL_MAX_LENGTH,
            finish_on_key="#",
            play_beep=True,
            recording_status_callback=hook_path(inbox, "voice_recording"),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
            transcribe=True,
            transcribe_callback=hook_path(inbox, "voice_transcription"),
        )
        # Reached only when the caller recorded nothing.
        _say(response, inbox, _("We did not receive a message. Goodbye."))
        response.hangup()
    return response


def after_voicemail(inbox: Inbox) -> VoiceResponse:
    response = VoiceResponse()
    with _translated(inbox):
        _say(response, inbox, _("Thank you. We will call you back as soon as we can."))
    response.hangup()
    return response
