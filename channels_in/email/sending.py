"""Outbound mail through Django's e-mail API (SMTP by default, anymail ESPs alike)."""

from __future__ import annotations

import smtplib
from email.headerregistry import Address
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from channels_in.base import ChannelError
from channels_in.email import loops, quotes, tokens
from conversations.models import Channel, Entry, IdentityKind

if TYPE_CHECKING:
    from channels_in.adapters.email import EmailAdapter

_MAX_REFERENCES = 20


def outbound_message_id(entry: Entry, address: str) -> str:
    """Deterministic per entry, so a retried send carries the same Message-ID and the
    recipient's mail system can recognise the duplicate."""
    domain = address.rpartition("@")[2] or "localhost"
    return f"<helpdesk.{entry.public_id.hex}@{domain}>"


def _thread_ids(entry: Entry) -> tuple[str, list[str]]:
    """(In-Reply-To, References) from the conversation's earlier e-mail entries."""
    rows = list(
        Entry.objects.filter(
            conversation_id=entry.conversation_id,
            channel=Channel.EMAIL,
            kind__in=(Entry.Kind.INBOUND, Entry.Kind.OUTBOUND),
            provider_id__startswith="<",
            occurred_at__lte=entry.occurred_at,
        )
        .exclude(pk=entry.pk)
        .order_by("occurred_at", "id")
        .values_list("kind", "provider_id")
    )
    ids = [pid for _, pid in rows if pid]
    inbound = [pid for kind, pid in rows if kind == Entry.Kind.INBOUND and pid]
    parent = inbound[-1] if inbound else (ids[-1] if ids else "")
    return parent, ids[-_MAX_REFERENCES:]


def _recipient(entry: Entry) -> str:
    # The address the customer last wrote from in this conversation, else any of theirs.
    last = (
        Entry.objects.filter(
            conversation_id=entry.conversation_id,
            kind=Entry.Kind.INBOUND,
            channel=Channel.EMAIL,
            contact_id=entry.contact_id,
        )
        .order_by("-occurred_at", "-id")
        .values_list("parameters", flat=True)
        .first()
    )
    if isinstance(last, dict) and last.get("from"):
        return str(last["from"])
    identity = (
        entry.contact.identities.filter(kind=IdentityKind.EMAIL).order_by("created_at").first()
    )
    if identity is None:
        raise ChannelError(_("This contact has no e-mail address."), permanent=True)
    return identity.value


def _subject(entry: Entry) -> str:
    subject = entry.subject or entry.conversation.subject or _("Your request")
    if entry.subject == "" and not subject.lower().startswith(("re:", "odg:")):
        subject = f"Re: {subject}"
    return tokens.tagged_subject(subject, entry.conversation_id)


def build_message(adapter: EmailAdapter, entry: Entry) -> EmailMultiAlternatives:
    address = adapter.address
    to = _recipient(entry)
    agent_name = entry.author.display_name if entry.author else adapter.inbox.name
    parent, references = _thread_ids(entry)
    context: dict[str, Any] = {
        "body": entry.body,
        "agent_name": agent_name,
        "inbox_name": adapter.inbox.name,
        "number": entry.conversation_id,
        "marker": quotes.REPLY_MARKER,
    }
    headers = {
        "Message-ID": outbound_message_id(entry, address),
        "X-Loop": address,
    }
    if parent:
        headers["In-Reply-To"] = parent
        headers["References"] = " ".join(references)
    if entry.is_auto:
        # RFC 3834: our automatic mail says so, so other systems don't answer it.
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    cc = entry.parameters.get("cc") if isinstance(entry.parameters, dict) else None
    message = EmailMultiAlternatives(
        subject=_subject(entry),
        body=render_to_string("emails/reply.txt", context),
        from_email=str(Address(display_name=agent_name, addr_spec=address)),
        to=[to],
        cc=[str(a) for a in cc] if isinstance(cc, list) else [],
        reply_to=[tokens.reply_address(address, entry.conversation.public_id)],
        headers=headers,
    )
    message.attach_alternative(render_to_string("emails/reply.html", context), "text/html")
    for attachment in entry.attachments.all():
        if not attachment.file:
            continue
        with attachment.file.open("rb") as handle:
            message.attach(attachment.filename, handle.read(), attachment.content_type)
    return message


def send_entry(adapter: EmailAdapter, entry: Entry) -> str:
    """Send one outbound entry; returns its Message-ID (the entry's provider id).

    Raises ChannelError: permanent when the recipient is refused or an automatic
    mail would break the per-sender limit, temporary for transport trouble.
    """
    message = build_message(adapter, entry)
    if entry.is_auto and not loops.allow_automatic_mail(message.to[0]):
        raise ChannelError(
            _("Automatic mail to %(address)s is over the hourly limit.")
            % {"address": message.to[0]},
            permanent=True,
        )
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"recipient refused: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ == "AnymailRecipientsRefused":
            raise ChannelError(f"recipient refused: {exc}", permanent=True) from exc
        if type(exc).__module__.startswith("anymail"):
            raise ChannelError(f"ESP: {exc}") from exc
        raise
    status = getattr(message, "anymail_status", None)
    esp_id = getattr(status, "message_id", None) if status is not None else None
    if isinstance(esp_id, str) and esp_id:
        from channels_in.actions import set_entry_parameters

        # ESP tracking webhooks name the message by the ESP's own id.
        set_entry_parameters(entry.pk, {"esp_message_id": esp_id})
    return str(message.extra_headers["Message-ID"])
