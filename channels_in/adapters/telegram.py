"""Telegram bots: `POST /hooks/telegram/<slug>/` with one Update per request.

Telegram signs nothing: `setWebhook` (run by `install()`, i.e. `inbox add`) gives it
our `secret_token`, which it sends back in `X-Telegram-Bot-Api-Secret-Token`.
Dedupe: the raw event by `update_id`, the entry by `<chat.id>:<message_id>`.
An edited message becomes a new entry flagged `edited`, pointing at the original.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar

import httpx
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from channels_in import http
from channels_in.adapters.meta import as_dict, as_list, from_epoch, load_json, split_text
from channels_in.base import (
    AttachmentRef,
    BadPayload,
    ChannelAdapter,
    ChannelError,
    InboundMessage,
    ParsedItem,
    SignatureError,
    ThreadHints,
)
from channels_in.models import InboundEvent
from conversations.identities import InvalidIdentity, normalize
from conversations.models import Attachment, Channel, Entry, IdentityKind

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ALLOWED_UPDATES = ["message", "edited_message"]
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096


def _name(user: dict[str, Any]) -> str:
    name = " ".join(str(user[k]) for k in ("first_name", "last_name") if user.get(k))
    return name or (f"@{user['username']}" if user.get("username") else "")


class TelegramAdapter(ChannelAdapter):
    kind = "telegram"
    channels = (Channel.TELEGRAM,)
    config_keys: ClassVar[tuple[str, ...]] = ()
    secret_keys: ClassVar[tuple[str, ...]] = ("bot_token", "secret_token")
    required_keys: ClassVar[tuple[str, ...]] = ("bot_token", "secret_token")

    # --- inbound ---------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        secret = self.inbox.get_secret("secret_token")
        if not secret:
            raise SignatureError("this inbox has no secret_token configured")
        given = request.headers.get(SECRET_HEADER, "")
        if not given:
            raise SignatureError(f"missing {SECRET_HEADER} header")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise SignatureError("secret token does not match")

    def identify(self, request: HttpRequest, topic: str) -> str:
        update_id = load_json(request.body).get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BadPayload("'update_id' must be an integer")
        return f"update:{update_id}"

    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        update = load_json(bytes(event.body))
        if isinstance(update.get("message"), dict):
            item = self.parse_message(update["message"], edited=False)
        elif isinstance(update.get("edited_message"), dict):
            item = self.parse_message(update["edited_message"], edited=True)
        else:
            return []  # channel posts, callback queries, member updates...: ignored
        return [item] if item is not None else []

    def parse_message(self, message: dict[str, Any], *, edited: bool) -> InboundMessage | None:
        user = as_dict(message.get("from"))
        chat = as_dict(message.get("chat"))
        if not user.get("id") or user.get("is_bot") or "id" not in chat:
            return None
        if chat.get("type") not in (None, "private"):
            return None  # group chats are not customer conversations
        try:
            identity = normalize(IdentityKind.TELEGRAM, str(user["id"]))
        except InvalidIdentity as exc:
            raise BadPayload(f"bad Telegram user id: {exc}") from exc
        chat_id = str(chat["id"])
        message_key = f"{chat_id}:{message.get('message_id')}"
        parameters: dict[str, Any] = {"chat_id": chat_id}
        if user.get("username"):
            parameters["username"] = user["username"]
        body = str(message.get("text") or message.get("caption") or "")
        attachments: list[AttachmentRef] = []
        photos = as_list(message.get("photo"))
        if photos:
            # Telegram sends every size; the last (largest) is the one worth keeping.
            largest = max(photos, key=lambda p: p.get("width", 0) * p.get("height", 0))
            attachments.append(
                AttachmentRef(
                    filename=f"photo-{largest.get('file_unique_id', 'file')}.jpg",
                    content_type="image/jpeg",
                    url=str(largest["file_id"]),
                    size=int(largest.get("file_size") or 0),
                )
            )
        for key, default_name, default_type in (
            ("document", "document", "application/octet-stream"),
            ("voice", "voice.ogg", "audio/ogg"),
            ("audio", "audio.mp3", "audio/mpeg"),
            ("video", "video.mp4", "video/mp4"),
        ):
            media = as_dict(message.get(key))
            if media.get("file_id"):
                attachments.append(
                    AttachmentRef(
                        filename=str(media.get("file_name") or default_name)[:200],
                        content_type=str(media.get("mime_type") or default_type),
                        url=str(media["file_id"]),
                        size=int(media.get("file_size") or 0),
                    )
                )
        location = as_dict(message.get("location"))
        if location:
            parameters["location"] = location
            body = _("Location: %(lat)s, %(lon)s") % {
                "lat": location.get("latitude"),
                "lon": location.get("longitude"),
            }
        if not body and not attachments:
            parameters["unsupported"] = True
            body = _("(A Telegram message this help desk cannot show.)")
        replies_to = []
        reply = as_dict(message.get("reply_to_message"))
        if reply.get("message_id"):
            replies_to.append(f"{chat_id}:{reply['message_id']}")
        provider_id = message_key
        at = from_epoch(message.get("date"))
        if edited:
            # A new entry beside the original, so both versions stay on the timeline.
            provider_id = f"{message_key}:edit:{message.get('edit_date')}"
            parameters["edited"] = message_key
            replies_to.append(message_key)
            at = from_epoch(message.get("edit_date")) or at
        return InboundMessage(
            inbox_id=self.inbox.pk,
            channel=Channel.TELEGRAM,
            identities=[identity],
            contact_name=_name(user),
            body=body,
            provider_id=provider_id,
            occurred_at=at,
            attachments=attachments,
            thread=ThreadHints(replies_to=replies_to),
            parameters=parameters,
        )

    # --- Bot API -----------------------------------------------------------------
    def api_url(self, method: str) -> str:
        token = self.inbox.get_secret("bot_token")
        if not token:
            raise ChannelError(_("This inbox has no bot_token."), permanent=True)
        return f"{settings.TELEGRAM_API_URL}/bot{token}/{method}"

    def call(
        self,
        method: str,
        *,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Call a Bot API method; return its `result` or raise ChannelError."""
        url = self.api_url(method)
        try:
            with http.client(timeout=settings.TELEGRAM_HTTP_TIMEOUT) as client:
                response = client.post(url, json=json_body, data=data, files=files)
        except httpx.HTTPError as exc:
            raise ChannelError(f"Telegram unreachable: {type(exc).__name__}") from exc
        try:
            answer = as_dict(response.json())
        except ValueError:
            answer = {}
        if response.status_code >= 300 or not answer.get("ok"):
            code = answer.get("error_code") or response.status_code
            description = answer.get("description") or response.text[:200]
            # 429 (flood control) and server errors pass; 400/403 (blocked) do not.
            permanent = 400 <= response.status_code < 500 and response.status_code != 429
            raise ChannelError(
                f"Telegram {method} failed ({code}): {description}", permanent=permanent
            )
        return answer.get("result")

    # --- outbound --------------------------------------------------------------
    def chat_id(self, entry: Entry) -> str:
        parameters = (
            Entry.objects.filter(
                inbox=self.inbox,
                contact_id=entry.contact_id,
                channel=Channel.TELEGRAM,
                kind=Entry.Kind.INBOUND,
                parameters__has_key="chat_id",
            )
            .order_by("-occurred_at", "-id")
            .values_list("parameters", flat=True)
            .first()
        )
        if parameters and parameters.get("chat_id"):
            return str(parameters["chat_id"])
        # In a private chat the chat id is the user id.
        user_id = (
            entry.contact.identities.filter(kind=IdentityKind.TELEGRAM)
            .values_list("value", flat=True)
            .first()
        )
        if not user_id:
            raise ChannelError(_("The contact has no Telegram id."), permanent=True)
        return user_id

    def send(self, entry: Entry) -> str:
        chat_id = self.chat_id(entry)
        sent: list[str] = []
        attachments = list(entry.attachments.all())
        # A caption holds at most 1,024 characters; a longer text goes on its own.
        caption = entry.body if len(entry.body) <= CAPTION_LIMIT else ""
        if entry.body and not (attachments and caption):
            for text in split_text(entry.body, TEXT_LIMIT):
                result = self.call("sendMessage", json_body={"chat_id": chat_id, "text": text})
                sent.append(self.message_key(chat_id, result))
        for index, attachment in enumerate(attachments):
            if not attachment.file:
                raise ChannelError(
                    _("%(name)s has not been downloaded yet.") % {"name": attachment.filename}
                )
            with attachment.file.open("rb") as handle:
                content = handle.read()
            method, field = (
                ("sendPhoto", "photo") if attachment.is_image else ("sendDocument", "document")
            )
            data = {"chat_id": chat_id}
            if index == 0 and caption:
                data["caption"] = caption
            result = self.call(
                method,
                data=data,
                files={field: (attachment.filename, content, attachment.content_type)},
            )
            sent.append(self.message_key(chat_id, result))
        if not sent:
            raise ChannelError(_("Nothing to send."), permanent=True)
        return sent[0]

    @staticmethod
    def message_key(chat_id: str, result: Any) -> str:
        message_id = as_dict(result).get("message_id")
        if message_id is None:
            raise ChannelError(_("Telegram returned no message id."))
        return f"{chat_id}:{message_id}"

    def download_media(self, attachment: Attachment) -> tuple[bytes, str]:
        """file_id -> getFile -> file_path -> the bytes (Bot API downloads cap at 20 MB)."""
        result = as_dict(self.call("getFile", json_body={"file_id": attachment.source_url}))
        file_path = str(result.get("file_path") or "")
        if not file_path:
            raise ChannelError("getFile returned no file_path", permanent=True)
        token = self.inbox.get_secret("bot_token")
        url = f"{settings.TELEGRAM_API_URL}/file/bot{token}/{file_path}"
        try:
            with http.client(timeout=settings.TELEGRAM_HTTP_TIMEOUT * 3) as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise ChannelError(f"Telegram file download failed: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise ChannelError(
                f"Telegram file download answered HTTP {response.status_code}",
                permanent=400 <= response.status_code < 500,
            )
        return response.content, ""

    # --- operator --------------------------------------------------------------
    def webhook_paths(self) -> list[str]:
        return [reverse("channels_in:telegram", args=[self.inbox.slug])]

    def install(self) -> list[str]:
        """Point the bot at this inbox (setWebhook); raise ChannelError if it can't."""
        public_url = str(getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
        if not public_url:
            raise ChannelError(
                _("PUBLIC_URL is not set: Telegram needs the public https address to call."),
                permanent=True,
            )
        secret = self.inbox.get_secret("secret_token")
        if not secret:
            raise ChannelError(_("This inbox has no secret_token."), permanent=True)
        url = public_url + self.webhook_paths()[0]
        self.call(
            "setWebhook",
            json_body={"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES},
        )
        return [
            _("Telegram webhook set to %(url)s") % {"url": url},
            _("Updates sent: %(updates)s") % {"updates": ", ".join(ALLOWED_UPDATES)},
        ]
