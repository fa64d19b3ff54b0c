"""Everything a widget visitor can change, as named functions (the consumer and the
upload view stay thin). Timeline writes go through conversations.actions.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from channels_in.adapters.chat import PROVIDER_PREFIX, ChatAdapter
from channels_in.models import Inbox
from conversations import actions as core
from conversations import presence, realtime, signals
from conversations.actions import ActionError
from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.inbound import AttachmentRef, InboundMessage
from conversations.models import Channel, Contact, Conversation, Entry, Identity, IdentityKind
from widget import ratelimit
from widget.payloads import VisitorEntry, visitor_entry
from widget.sessions import SessionRefused, VisitorSession, new_session, read_token

log = logging.getLogger(__name__)

STANDARD_FIELDS = ("name", "email", "phone")


@dataclass
class Opened:
    session: VisitorSession
    contact: Contact | None
    # True when this connection was given a new token (first visit, or a new login).
    issued: bool = False


@dataclass
class VisitorIdentity:
    """What the host site passes for a logged-in user; trusted only with a valid hash."""

    identifier: str = ""
    identifier_hash: str = ""
    email: str = ""
    name: str = ""

    @classmethod
    def from_frame(cls, data: Any) -> VisitorIdentity | None:
        if not isinstance(data, dict) or not data.get("identifier"):
            return None
        return cls(
            **{
                k: str(data.get(k) or "")[:320]
                for k in ("identifier", "identifier_hash", "email", "name")
            }
        )


def _chat_ref(session: VisitorSession) -> IdentityRef:
    return IdentityRef(IdentityKind.CHAT, session.visitor_id)


def session_identities(session: VisitorSession) -> list[IdentityRef]:
    """The identities a message of this session is recorded under, primary first."""
    refs = [_chat_ref(session)]
    if session.identifier:
        # The host site's user id: the same person on another device joins this contact.
        refs.insert(0, IdentityRef(IdentityKind.API, session.identifier))
    return refs


def find_contact(session: VisitorSession) -> Contact | None:
    """The contact this session already wrote as, without creating one."""
    refs = session_identities(session)
    identity = (
        Identity.objects.filter(kind=refs[0].kind, value=refs[0].value)
        .select_related("contact")
        .first()
    )
    if identity is None:
        return None
    contact = identity.contact
    for _hop in range(10):  # follow merges to the surviving contact
        if contact.merged_into_id is None:
            break
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def open_session(inbox: Inbox, token: str | None, identity: VisitorIdentity | None) -> Opened:
    """Check the visitor's token and identity; raise SessionRefused with a clear reason.

    A wrong identifier_hash is refused, never downgraded to anonymous: the host site
    asked for a verified user and something is wrong. A token bound to one user is
    refused for any other (or for a logged-out page), so a shared browser can't
    show the previous user's chat.
    """
    adapter = ChatAdapter(inbox)
    if identity is not None and not adapter.identity_is_valid(
        identity.identifier, identity.identifier_hash
    ):
        raise SessionRefused(
            "bad_identity",
            _("The identity of this visitor could not be verified (identifier_hash is wrong)."),
        )
    identifier = identity.identifier if identity else ""
    session: VisitorSession | None = read_token(token, inbox.pk) if token else None
    issued = False
    if session is not None and session.identifier != identifier:
        if session.identifier:
            raise SessionRefused(
                "session_mismatch", _("This chat session belongs to another user.")
            )
        session = None  # an anonymous visitor logged in: start a session as that user
    if session is None:
        session = new_session(inbox.pk, identifier)
        issued = True
    if identity is not None:
        refs = session_identities(session)
        if identity.email:
            try:
                refs.append(normalize(IdentityKind.EMAIL, identity.email))
            except InvalidIdentity:
                pass  # the host site's own data; a bad address just isn't linked
        contact: Contact | None = core.resolve_contact(refs, identity.name)
    else:
        contact = find_contact(session)
    return Opened(session, contact, issued)


def check_body(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ActionError(_("A message needs some text."))
    if len(body) > settings.WIDGET_MAX_MESSAGE_CHARS:
        raise ActionError(
            _("This message is too long: the limit is %(limit)d characters.")
            % {"limit": settings.WIDGET_MAX_MESSAGE_CHARS}
        )
    return body.strip()


def parse_client_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise ActionError(_("Every message needs a client_id (a UUID).")) from None


def record_visitor_message(
    inbox: Inbox,
    session: VisitorSession,
    client_id: uuid.UUID,
    body: str,
    attachments: list[AttachmentRef] | None = None,
) -> core.Recorded:
    """One visitor message on the timeline; the same client_id again is the same entry."""
    return core.record_inbound(_inbound(inbox, session, client_id, body, attachments))


def _inbound(
    inbox: Inbox,
    session: VisitorSession,
    client_id: uuid.UUID,
    body: str,
    attachments: list[AttachmentRef] | None = None,
) -> InboundMessage:
    return InboundMessage(
        inbox_id=inbox.pk,
        channel=Channel.CHAT,
        identities=session_identities(session),
        team_id=inbox.team_id,
        body=body,
        client_id=client_id,
        attachments=attachments or [],
    )


@dataclass(frozen=True)
class VisitorMessage:
    """A message frame of one widget socket, as it came (checked when recorded)."""

    inbox: Inbox
    session: VisitorSession
    client_id: Any
    body: Any
    ip: str
    language: str = "en"


@dataclass(frozen=True)
class Acked:
    """A recorded visitor message: what its socket acknowledges."""

    entry: VisitorEntry
    contact_id: int
    conversation_id: int


def record_visitor_messages(messages: list[VisitorMessage]) -> list[Acked | Exception]:
    """Several widget messages, from any visitors, in one transaction: one answer each.

    An ActionError answer (too fast, no text, no client id) is for the visitor; any
    other exception is the one that message raised. Refusals are decided before
    anything is written; the others commit together (one disk flush), and their
    after-commit work (KPI marks, media and survey lookups, live events) is coalesced
    by signals.batch. If anything fails inside the batch (a deadlock with another
    batch holding the same contact, say), it is rolled back and every message is
    written again on its own: rare enough that a savepoint per message (two more
    round trips each) would cost more than it saves.
    """
    allowed = ratelimit.allow_many(
        [
            [
                ("visitor", m.session.visitor_id, settings.WIDGET_VISITOR_RATE),
                ("ip", m.ip, settings.WIDGET_IP_RATE),
            ]
            for m in messages
        ]
    )
    answers: list[Acked | Exception | None] = []
    writes: list[tuple[int, VisitorMessage, uuid.UUID, str]] = []
    for i, (message, allow) in enumerate(zip(messages, allowed, strict=True)):
        try:
            client_id, body = _check(message, allow)
        except ActionError as exc:
            answers.append(exc)
            continue
        answers.append(None)
        writes.append((i, message, client_id, body))
    if len(writes) > 1:
        try:
            inbound = [_inbound(m.inbox, m.session, cid, body) for _, m, cid, body in writes]
            # inbound_batch: senders, contacts, conversations and client ids read and
            # locked once for the batch, not per message.
            with signals.batch(), transaction.atomic(), core.inbound_batch(inbound):
                written = [
                    (i, _write(m, msg))
                    for (i, m, _cid, _body), msg in zip(writes, inbound, strict=True)
                ]
            for i, acked in written:
                answers[i] = acked
            writes = []
        except Exception:  # noqa: BLE001 - rolled back: each is written again alone
            log.warning("a batch of %d widget messages failed", len(writes), exc_info=True)
    for i, m, client_id, body in writes:
        try:
            answers[i] = _write(m, _inbound(m.inbox, m.session, client_id, body))
        except Exception as exc:  # noqa: BLE001 - the answer for this message's socket
            answers[i] = exc
    return [answer for answer in answers if answer is not None]  # all answered by now


def _check(message: VisitorMessage, allowed: bool) -> tuple[uuid.UUID, str]:
    """(client id, body) of a message that may be written; raise ActionError if not."""
    with translation.override(message.language):
        if not allowed:
            raise ActionError(_("You are sending messages too fast; wait a moment."))
        body = check_body(message.body)
        return parse_client_id(message.client_id), body


def _write(message: VisitorMessage, inbound: InboundMessage) -> Acked:
    with translation.override(message.language):
        recorded = core.record_inbound(inbound)
        entry = recorded.entry
        return Acked(
            # A new text message has no attachments: no need to ask the database.
            entry=visitor_entry(entry, message.inbox.slug, with_attachments=not recorded.created),
            contact_id=entry.contact_id,
            conversation_id=entry.conversation_id,
        )


@transaction.atomic
def submit_prechat(inbox: Inbox, session: VisitorSession, values: Any) -> Contact:
    """Store the pre-chat form (or the offline "leave your e-mail" form).

    A typed e-mail is not proof of owning it: it is linked as an unverified identity
    only when no other contact has it (so e-mail replies can reach the visitor and
    their answers thread back here), and never joins another contact's timeline.
    """
    if not isinstance(values, dict):
        raise ActionError(_("The form could not be read."))
    fields = ChatAdapter(inbox).prechat_fields()
    wanted = {f.name for f in fields} | {"email"}
    clean: dict[str, str] = {}
    for name in wanted:
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 500:
            raise ActionError(_("%(field)s is not valid.") % {"field": name})
        if value.strip():
            clean[name] = value.strip()
    missing = [f.name for f in fields if f.required and not clean.get(f.name)]
    if missing:
        raise ActionError(_("Please fill in: %(fields)s.") % {"fields": ", ".join(missing)})
    extra_refs: list[IdentityRef] = []
    for name, kind in (("email", IdentityKind.EMAIL), ("phone", IdentityKind.PHONE)):
        if name in clean:
            try:
                extra_refs.append(normalize(kind, clean[name]))
            except InvalidIdentity:
                raise ActionError(
                    _("%(value)s is not a valid %(field)s.") % {"value": clean[name], "field": name}
                ) from None
    contact = core.resolve_contact(session_identities(session), clean.get("name", ""))
    attributes: dict[str, Any] = {k: v for k, v in clean.items() if k not in STANDARD_FIELDS}
    for ref in extra_refs:
        owner = Identity.objects.filter(kind=ref.kind, value=ref.value).first()
        if owner is None:
            core.add_identity(contact, ref, verified=False)
        elif owner.contact_id != contact.pk:
            attributes[f"unverified_{ref.kind}"] = ref.value
    core.update_contact(
        contact,
        name=clean["name"] if clean.get("name") else None,
        attributes={**attributes, "prechat_done": True},
    )
    return contact


def visible_entries(contact: Contact, after: str | None = None, limit: int = 200) -> list[Entry]:
    """The visitor's own chat history, oldest first; after an entry id when resuming.

    Only chat messages: e-mail or notes of the same contact never show in a widget
    (an e-mail address typed into a form is not proof of owning that mailbox).
    """
    entries = (
        Entry.objects.filter(
            contact=contact,
            channel=Channel.CHAT,
            kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND),
        )
        .select_related("author")
        .prefetch_related("attachments")
    )
    if after:
        try:
            cursor = (
                Entry.objects.filter(contact=contact, public_id=uuid.UUID(str(after)))
                .values("occurred_at", "id")
                .first()
            )
        except ValueError:
            cursor = None
        if cursor is not None:
            from django.db.models import Q

            entries = entries.filter(
                Q(occurred_at__gt=cursor["occurred_at"])
                | Q(occurred_at=cursor["occurred_at"], id__gt=cursor["id"])
            )
    newest = list(entries.order_by("-occurred_at", "-id")[:limit])
    newest.reverse()
    return newest


def current_conversation(contact: Contact) -> Conversation | None:
    return (
        Conversation.objects.filter(contact=contact)
        .order_by("-last_message_at", "-id")
        .only("id", "status", "contact_id", "resolved_at")
        .first()
    )


def mark_read_by_visitor(contact: Contact, entry_id: Any) -> int:
    """The visitor saw our replies up to this one: their delivery moves to "read"."""
    try:
        upto = Entry.objects.filter(
            contact=contact, public_id=uuid.UUID(str(entry_id)), kind=Entry.Kind.OUTBOUND
        ).first()
    except ValueError:
        upto = None
    if upto is None:
        return 0
    unread = list(
        Entry.objects.filter(
            conversation_id=upto.conversation_id,
            kind=Entry.Kind.OUTBOUND,
            channel=Channel.CHAT,
            occurred_at__lte=upto.occurred_at,
            delivery_status__in=(
                Entry.Delivery.QUEUED,
                Entry.Delivery.SENDING,
                Entry.Delivery.SENT,
                Entry.Delivery.DELIVERED,
            ),
        ).values_list("id", "public_id")[:50]
    )
    for entry_pk, public_id in unread:
        # The visitor may read a reply before the send task confirmed it (the live
        # push happens on commit): "read" wins, and the late "sent" can't undo it.
        core.mark_delivery(
            entry_pk, Entry.Delivery.READ, provider_id=f"{PROVIDER_PREFIX}{public_id}"
        )
    return len(unread)


def answer_survey(contact: Contact, conversation_id: Any, score: Any, comment: Any) -> Any:
    """CSAT from the widget, stored through the KPI app's survey action."""
    try:
        conversation = Conversation.objects.get(pk=int(conversation_id), contact=contact)
    except (Conversation.DoesNotExist, TypeError, ValueError):
        raise ActionError(_("There is no such conversation in this chat.")) from None
    if conversation.status != Conversation.Status.RESOLVED:
        raise ActionError(_("You can rate the conversation once it is resolved."))
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ActionError(_("Please choose a rating from 1 to 5."))
    if comment is not None and not isinstance(comment, str):
        raise ActionError(_("The comment could not be read."))
    try:
        from kpi.actions import record_survey_response
    except ImportError:
        raise ActionError(_("Ratings are not available right now.")) from None
    return record_survey_response(
        conversation,
        survey="csat",
        score=score,
        comment=(comment or "").strip()[:2000],
        channel=Channel.CHAT,
    )


def check_upload(filename: str, content_type: str, size: int) -> None:
    """The core limits, then the widget's own: a size cap and a list of types."""
    core.check_attachment(filename, content_type, size)
    if size > settings.WIDGET_UPLOAD_MAX_BYTES:
        raise ActionError(
            _("%(name)s is too large: the limit is %(limit)s MB.")
            % {"name": filename, "limit": settings.WIDGET_UPLOAD_MAX_BYTES // (1024 * 1024)}
        )
    allowed = settings.WIDGET_UPLOAD_TYPES
    major = content_type.split("/", 1)[0]
    if content_type not in allowed and f"{major}/*" not in allowed:
        raise ActionError(
            _("Files of type %(type)s can't be sent here.") % {"type": content_type or "?"}
        )


def record_upload(
    inbox: Inbox,
    session: VisitorSession,
    client_id: uuid.UUID,
    filename: str,
    content_type: str,
    content: bytes,
    body: str = "",
) -> core.Recorded:
    check_upload(filename, content_type, len(content))
    ref = AttachmentRef(filename=filename, content_type=content_type, content=content)
    return record_visitor_message(inbox, session, client_id, body, [ref])


# --- replying when the visitor is gone ------------------------------------------------


@dataclass(frozen=True)
class ReplyRoute:
    channel: str
    inbox_id: int | None
    reason: str


def choose_reply_channel(conversation: Conversation) -> ReplyRoute:
    """Where an agent's reply to a chat conversation should go now.

    Visitor's widget open -> chat. Gone, with an e-mail identity and an active e-mail
    inbox -> e-mail (the e-mail channel threads the answer back by its reply token).
    Otherwise chat: the visitor sees it the next time the widget opens.
    """
    if presence.visitor_online(conversation.contact_id):
        return ReplyRoute(Channel.CHAT, None, "visitor online")
    has_email = Identity.objects.filter(
        contact_id=conversation.contact_id, kind=IdentityKind.EMAIL
    ).exists()
    if has_email:
        inboxes = Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True).order_by("id")
        # The conversation's team's own e-mail inbox first, if it has one.
        email_inbox = (
            inboxes.filter(team_id=conversation.team_id).values_list("id", flat=True).first()
            if conversation.team_id
            else None
        ) or inboxes.values_list("id", flat=True).first()
        if email_inbox is not None:
            return ReplyRoute(Channel.EMAIL, email_inbox, "visitor offline, e-mail known")
    return ReplyRoute(Channel.CHAT, None, "visitor offline, no e-mail")


def reply_to_visitor(conversation: Conversation, author: Any, body: str, **kwargs: Any) -> Entry:
    """conversations.actions.reply on the route choose_reply_channel picks."""
    route = choose_reply_channel(conversation)
    return core.reply(
        conversation, author, body, via=route.channel, inbox_id=route.inbox_id, **kwargs
    )


def drop_visitor(contact_id: int) -> None:
    """Close every open widget socket of this contact (they reconnect and resume)."""
    realtime.publish_now(realtime.visitor_group(contact_id), {"type": "session.close"})


__all__ = ["SessionRefused", "read_token"]
