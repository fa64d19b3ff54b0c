"""The visitor's websocket: /ws/widget/<slug>/.

Async, because one process holds thousands of mostly idle visitor sockets and
relays agent replies to them without a thread hop; every database or cache call
lives in a private database_sync_to_async helper that delegates to widget.actions.

Frames in (JSON):
    hello   {token?, identity?: {identifier, identifier_hash, email, name}, after?}
    message {client_id, body}        -> ack {client_id, entry} | error
    typing  {typing: bool}
    read    {entry}                  our replies up to `entry` were seen
    prechat {fields: {...}}          -> prechat_ok | error
    csat    {conversation, score, comment?} -> csat_ok | error
    ping                             -> pong
Frames out: ready {token, visitor, entries, conversation, availability, agent},
    entry {entry}, typing {typing, name}, seen {conversation}, conversation
    {conversation, status}, and error {code, error} (refusals then close with 4403).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from channels_in.adapters.chat import ChatAdapter
from channels_in.models import Inbox
from conversations import presence, realtime
from conversations.actions import ActionError
from conversations.models import Contact, Conversation, Entry
from helpdesk import ws_metrics
from widget import actions, availability, ratelimit, recorder
from widget.payloads import visitor_entry, visitor_entry_from_event
from widget.sessions import SessionRefused, VisitorSession

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def off_loop(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """database_sync_to_async, by default in the thread pool rather than the one
    thread-sensitive thread: every helper is a self-contained transaction, and one
    thread for all the visitors' database work of a process is the bottleneck under
    load. Tests set WIDGET_DB_THREAD_SENSITIVE to count queries on their connection.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        run = database_sync_to_async(fn, thread_sensitive=settings.WIDGET_DB_THREAD_SENSITIVE)
        result: R = await run(*args, **kwargs)
        return result

    return wrapper


REFUSED = 4403
TYPING_MIN_INTERVAL = 1.0


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client") or ("", 0)
    return str(client[0] or "unknown")


def header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class VisitorConsumer(AsyncJsonWebsocketConsumer):
    inbox: Inbox | None = None
    session: VisitorSession | None = None
    contact_id: int | None = None
    conversation_id: int | None = None
    language: str = "en"
    counted: bool = False  # added to the /metrics socket gauge: take it off on close

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its close_old_connections before every event.

        That runs on the process's one thread for sync code, so every frame and every
        group event of every socket queued there behind the others (and behind sync
        consumers): under load the visitor's messages waited seconds for it. This
        consumer never touches the database on the event loop; its helpers run in
        database_sync_to_async, which closes old connections itself, on its thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- lifecycle ------------------------------------------------------------------
    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        origin = header(self.scope, b"origin")
        self.ip = client_ip(self.scope)
        self.groups_joined: set[str] = set()
        self.last_typing = 0.0
        self.visitor_typing = False
        # Entries this socket acknowledged: their live echo is not sent back to it.
        self.acked: deque[str] = deque(maxlen=20)
        self.inbox, refusal = await self._admit(slug, origin, header(self.scope, b"host"))
        await self.accept()
        if refusal is not None:
            await self.refuse(*refusal)
            return
        self.hello_timeout = asyncio.get_running_loop().call_later(
            settings.WIDGET_HELLO_TIMEOUT, lambda: asyncio.ensure_future(self._no_hello())
        )

    async def _no_hello(self) -> None:
        if self.session is None:
            await self.refuse("no_hello", _("The widget did not say hello in time."))

    async def disconnect(self, code: int) -> None:
        timeout = getattr(self, "hello_timeout", None)
        if timeout is not None:
            timeout.cancel()
        for group in list(getattr(self, "groups_joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.visitor_typing and self.conversation_id:
            await self._publish_typing(False)
        if self.contact_id is not None or self.counted:
            await self._closed(self.contact_id)

    async def refuse(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "error": message, "fatal": True})
        await self.close(code=REFUSED)

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    # --- frames in ------------------------------------------------------------------
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.inbox is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if self.session is None:
            if kind == "hello":
                await self.hello(content)
            else:
                await self.refuse("no_hello", _("Say hello first."))
            return
        handler = {
            "message": self.message,
            "typing": self.typing_frame,
            "read": self.read,
            "prechat": self.prechat,
            "csat": self.csat,
            "ping": self.ping,
        }.get(str(kind))
        if handler is None:
            await self.send_json(
                {"type": "error", "code": "unknown_frame", "error": f"unknown frame {kind!r}"}
            )
            return
        await handler(content)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The size limit is checked before parsing, so a huge frame costs nothing.
        limit = settings.WIDGET_MAX_MESSAGE_CHARS * 2 + 2048
        if text_data is None or len(text_data) > limit:
            await self.send_json(
                {
                    "type": "error",
                    "code": "too_large",
                    "error": self._t(
                        "This message is too long: the limit is %(limit)d characters.",
                        limit=settings.WIDGET_MAX_MESSAGE_CHARS,
                    ),
                }
            )
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self.send_json({"type": "error", "code": "bad_frame", "error": "not JSON"})
            return
        await self.receive_json(content)

    def _t(self, message: str, **params: Any) -> str:
        with translation.override(self.language):
            text = _(message)
        return text % params if params else text

    async def hello(self, content: dict[str, Any]) -> None:
        self.hello_timeout.cancel()
        identity = actions.VisitorIdentity.from_frame(content.get("identity"))
        token = content.get("token") if isinstance(content.get("token"), str) else None
        after = content.get("after") if isinstance(content.get("after"), str) else None
        try:
            ready = await self._open(token, identity, after)
        except SessionRefused as exc:
            await self.refuse(exc.code, exc.message)
            return
        if self.contact_id is not None:
            await self._join(realtime.visitor_group(self.contact_id))
            # Entries written between the history query and the join would be lost
            # if we joined after it; joining first, the widget dedupes by id instead.
            ready["entries"] = await self._history(after)
        await self.send_json(ready)

    async def message(self, content: dict[str, Any]) -> None:
        had_contact = self.contact_id is not None
        frame = await self._record_message(content)
        if not had_contact and self.contact_id is not None:
            await self._join(realtime.visitor_group(self.contact_id))
        if self.visitor_typing:
            self.visitor_typing = False
            await self._publish_typing(False)
        await self.send_json(frame)

    async def typing_frame(self, content: dict[str, Any]) -> None:
        typing = bool(content.get("typing"))
        now = time.monotonic()
        if not self.conversation_id or (
            typing and self.visitor_typing and now - self.last_typing < TYPING_MIN_INTERVAL
        ):
            return
        self.last_typing = now
        self.visitor_typing = typing
        await self._publish_typing(typing)

    async def _publish_typing(self, typing: bool) -> None:
        if self.conversation_id is None:
            return
        await self.channel_layer.group_send(
            realtime.conversation_group(self.conversation_id),
            {
                "type": "typing",
                "conversation": self.conversation_id,
                "who": "visitor",
                "typing": typing,
                "name": "",
            },
        )

    async def read(self, content: dict[str, Any]) -> None:
        if self.contact_id is not None:
            await self._mark_read(content.get("entry"))

    async def prechat(self, content: dict[str, Any]) -> None:
        await self.send_json(await self._prechat(content.get("fields")))

    async def csat(self, content: dict[str, Any]) -> None:
        await self.send_json(await self._csat(content))

    async def ping(self, content: dict[str, Any]) -> None:
        if self.contact_id is not None:
            await self._presence_seen(self.contact_id)
        elif (contact_id := await self._adopt_contact()) is not None:
            # Another tab of this visitor wrote the first message since our hello:
            # follow that conversation from now on, and catch up on it.
            await self._join(realtime.visitor_group(contact_id))
            for entry in await self._history(None):
                await self.send_json({"type": "entry", "entry": entry})
        await self.send_json({"type": "pong"})

    # --- events out (named after the published `type`) -------------------------------
    async def entry_created(self, event: dict[str, Any]) -> None:
        entry = event.get("entry") or {}
        if entry.get("kind") == Entry.Kind.EVENT:
            params = entry.get("parameters") or {}
            if entry.get("event") == "status_changed":
                await self.send_json(
                    {
                        "type": "conversation",
                        "conversation": entry["conversation"],
                        "status": params.get("to"),
                    }
                )
            return
        if entry.get("channel") != "chat" or entry.get("kind") not in (
            Entry.Kind.INBOUND,
            Entry.Kind.OUTBOUND,
        ):
            return  # e-mail, calls and notes of the same contact stay out of the widget
        self.conversation_id = entry["conversation"]
        if entry["id"] in self.acked:
            return
        await self.send_json({"type": "entry", "entry": visitor_entry_from_event(entry)})

    async def typing(self, event: dict[str, Any]) -> None:
        if event.get("who") == "agent":
            await self.send_json(
                {"type": "typing", "typing": bool(event.get("typing")), "name": event.get("name")}
            )

    async def session_close(self, event: dict[str, Any]) -> None:
        """Dropped by the server (widget.actions.drop_visitor): the widget reconnects."""
        await self.close(code=4000)

    async def seen(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "seen", "conversation": event.get("conversation")})

    def _ready_inbox(self) -> Inbox:
        if self.inbox is None:
            raise RuntimeError("no inbox: the socket was refused")
        return self.inbox

    def _ready_session(self) -> VisitorSession:
        if self.session is None:
            raise RuntimeError("no session: the widget has not said hello")
        return self.session

    # --- database and cache work, off the event loop ------------------------------------
    @off_loop
    def _admit(
        self, slug: str, origin: str, host: str
    ) -> tuple[Inbox | None, tuple[str, str] | None]:
        inbox = Inbox.objects.filter(slug=slug, kind=Inbox.Kind.CHAT, is_active=True).first()
        if inbox is None:
            return None, ("no_inbox", _("There is no such chat."))
        adapter = ChatAdapter(inbox)
        self.language = adapter.language()
        with translation.override(self.language):
            if not adapter.origin_allowed(origin, host):
                log.info("widget %s refused origin %r", slug, origin)
                return None, (
                    "origin_not_allowed",
                    _("This website (%(origin)s) is not allowed to use this chat.")
                    % {"origin": origin or "?"},
                )
            if not ratelimit.allow("connect", self.ip, settings.WIDGET_CONNECT_RATE):
                return None, ("rate_limited", _("Too many connections; try again in a minute."))
        # Counted here, already off the loop, so the gauge costs no extra thread hop.
        ws_metrics.socket_opened()
        self.counted = True
        return inbox, None

    @off_loop
    def _open(
        self, token: str | None, identity: actions.VisitorIdentity | None, after: str | None
    ) -> dict[str, Any]:
        inbox = self._ready_inbox()
        with translation.override(self.language):
            opened = actions.open_session(inbox, token, identity)
            self.session = opened.session
            contact = opened.contact
            conversation = None
            if contact is not None:
                self.contact_id = contact.pk
                presence.visitor_connected(contact.pk)
                conversation = actions.current_conversation(contact)
            self.conversation_id = conversation.pk if conversation else None
            return {
                "type": "ready",
                "token": opened.session.token(),
                "visitor": opened.session.visitor_id,
                "entries": [],
                "conversation": _conversation_frame(conversation),
                "availability": availability.for_inbox(inbox),
                "prechat_done": bool(contact and contact.attributes.get("prechat_done")),
                "known_email": bool(contact and _has_email(contact)),
            }

    @off_loop
    def _history(self, after: str | None) -> list[Any]:
        slug = self._ready_inbox().slug
        if self.contact_id is None:
            return []
        contact = Contact(pk=self.contact_id)
        return [visitor_entry(e, slug) for e in actions.visible_entries(contact, after)]

    async def _record_message(self, content: dict[str, Any]) -> dict[str, Any]:
        client_id = content.get("client_id")
        message = actions.VisitorMessage(
            self._ready_inbox(),
            self._ready_session(),
            client_id,
            content.get("body"),
            self.ip,
            self.language,
        )
        try:
            acked = await recorder.for_this_loop().record(message)
        except ActionError as exc:
            return {"type": "error", "code": "refused", "client_id": client_id, "error": str(exc)}
        if self.contact_id is None:
            self.contact_id = acked.contact_id
            await self._presence_connected(acked.contact_id)
        self.conversation_id = acked.conversation_id
        self.acked.append(acked.entry["id"])
        return {"type": "ack", "client_id": str(client_id), "entry": acked.entry}

    @off_loop
    def _mark_read(self, entry_id: Any) -> None:
        if self.contact_id is None:
            return
        actions.mark_read_by_visitor(Contact(pk=self.contact_id), entry_id)

    @off_loop
    def _prechat(self, fields: Any) -> dict[str, Any]:
        inbox, session = self._ready_inbox(), self._ready_session()
        with translation.override(self.language):
            try:
                contact = actions.submit_prechat(inbox, session, fields)
            except ActionError as exc:
                return {"type": "error", "code": "prechat", "error": str(exc)}
        if self.contact_id is None:
            self.contact_id = contact.pk
            presence.visitor_connected(contact.pk)
        return {"type": "prechat_ok", "known_email": _has_email(contact)}

    @off_loop
    def _csat(self, content: dict[str, Any]) -> dict[str, Any]:
        with translation.override(self.language):
            if self.contact_id is None:
                return {
                    "type": "error",
                    "code": "csat",
                    "error": _("There is nothing to rate yet."),
                }
            try:
                actions.answer_survey(
                    Contact(pk=self.contact_id),
                    content.get("conversation"),
                    content.get("score"),
                    content.get("comment"),
                )
            except ValueError as exc:  # ActionError and the KPI app's SurveyError
                return {"type": "error", "code": "csat", "error": str(exc)}
            return {"type": "csat_ok", "conversation": content.get("conversation")}

    @off_loop
    def _adopt_contact(self) -> int | None:
        contact = actions.find_contact(self._ready_session())
        if contact is None:
            return None
        self.contact_id = contact.pk
        presence.visitor_connected(contact.pk)
        return contact.pk

    @off_loop
    def _presence_seen(self, contact_id: int) -> None:
        presence.visitor_seen(contact_id)

    @off_loop
    def _presence_connected(self, contact_id: int) -> None:
        presence.visitor_connected(contact_id)

    @off_loop
    def _closed(self, contact_id: int | None) -> None:
        if contact_id is not None:
            presence.visitor_disconnected(contact_id)
        if self.counted:
            self.counted = False
            ws_metrics.socket_closed()


def _has_email(contact: Contact) -> bool:
    return contact.identities.filter(kind="email").exists()


def _conversation_frame(conversation: Conversation | None) -> dict[str, Any] | None:
    if conversation is None:
        return None
    return {"id": conversation.pk, "status": conversation.status}
