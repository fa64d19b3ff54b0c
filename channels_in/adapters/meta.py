"""What Meta's three products share: the webhook handshake and signature, the Graph
API client, the messaging windows, and the Messenger/Instagram event parser.

Meta calls one callback URL per app, `GET`/`POST /hooks/meta/<slug>/`:
- GET  ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=... when the URL is
  saved; answered with the bare challenge when the token matches, else 403.
- POST signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
  One POST may batch several entries; the raw event is the whole POST (its id is
  the sha256 of the body) and per-message dedupe is the core's (inbox, provider id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _

from channels_in import http
from channels_in.base import (
    AttachmentRef,
    BadPayload,
    ChannelAdapter,
    ChannelError,
    DeliveryUpdate,
    InboundMessage,
    ParsedItem,
    SignatureError,
    ThreadHints,
)
from channels_in.models import InboundEvent, Inbox
from conversations.identities import IdentityRef, InvalidIdentity, normalize
from conversations.models import Attachment, Entry, Identity

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Graph error codes worth retrying: throttling, temporary outages, "try again later".
_TEMPORARY_GRAPH_CODES = {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131056}
WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def from_epoch(value: Any, *, millis: bool = False) -> datetime | None:
    """A provider epoch timestamp (seconds, or milliseconds) as an aware UTC datetime."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if millis:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def load_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    return data


def as_list(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON array; anything else reads as empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def guess_extension(content_type: str) -> str:
    main = content_type.split(";")[0].strip()
    return {"audio/ogg": ".ogg", "image/jpeg": ".jpg", "audio/mpeg": ".mp3"}.get(
        main, mimetypes.guess_extension(main) or ""
    )


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a line break or space
    where one is near, so a long reply is sent as several messages."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def graph_error(response: httpx.Response) -> ChannelError:
    """A Graph API error answer as a ChannelError, permanent unless retrying can help."""
    try:
        error = as_dict(as_dict(response.json()).get("error"))
    except ValueError:
        error = {}
    code = error.get("code")
    message = error.get("error_user_msg") or error.get("message") or response.text[:200]
    details = as_dict(error.get("error_data")).get("details")
    if details:
        message = f"{message}: {details}"
    temporary = (
        response.status_code == 429
        or response.status_code >= 500
        or code in _TEMPORARY_GRAPH_CODES
        or bool(error.get("is_transient"))
    )
    text = f"Graph API error {code} (HTTP {response.status_code}): {message}"
    return ChannelError(text, permanent=not temporary)


class MetaAdapter(ChannelAdapter):
    """Base of the WhatsApp Cloud, Messenger and Instagram adapters."""

    secret_keys: ClassVar[tuple[str, ...]] = ("app_secret", "verify_token", "access_token")
    # The value of the payload's `object` field for this product.
    meta_object: ClassVar[str] = ""
    # The config key holding the account id this inbox answers for.
    account_key: ClassVar[str] = ""

    # --- inbound ---------------------------------------------------------------
    def handshake(self, params: QueryDict) -> HttpResponse:
        """Answer Meta's subscription check: the bare challenge, or 403."""
        expected = self.inbox.get_secret("verify_token")
        given = params.get("hub.verify_token", "")
        if (
            params.get("hub.mode") != "subscribe"
            or not expected  # fail closed: no token configured accepts nothing
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            return HttpResponse(_("Verification failed."), status=403, content_type="text/plain")
        return HttpResponse(params.get("hub.challenge", ""), content_type="text/plain")

    def verify(self, request: HttpRequest) -> None:
        secret = self.inbox.get_secret("app_secret")
        if not secret:
            raise SignatureError("this inbox has no app_secret configured")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        # Meta sends lowercase hex; HMAC the raw bytes, never re-serialized JSON.
        if not hmac.compare_digest(given.encode(), sign(secret, request.body).encode()):
            raise SignatureError("signature does not match the body")

    def identify(self, request: HttpRequest, topic: str) -> str:
        load_json(request.body)
        return "sha256:" + hashlib.sha256(request.body).hexdigest()

    def account_id(self) -> str:
        return str(self.inbox.setting(self.account_key) or "")

    def is_ours(self, account_id: Any) -> bool:
        """Does an item addressed to `account_id` belong to this inbox?

        Meta has one callback URL per app, so a payload may carry other accounts'
        items; an inbox without a configured id accepts every account.
        """
        ours = self.account_id()
        return not ours or str(account_id) == ours

    # --- outbound --------------------------------------------------------------
    def graph_url(self, path: str) -> str:
        base = str(self.inbox.setting("graph_url") or settings.META_GRAPH_URL).rstrip("/")
        return f"{base}/{settings.META_GRAPH_VERSION}/{path.lstrip('/')}"

    def auth_headers(self) -> dict[str, str]:
        token = self.inbox.get_secret("access_token")
        if not token:
            raise ChannelError(_("This inbox has no access_token."), permanent=True)
        return {"Authorization": f"Bearer {token}"}

    def graph_post(
        self,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """POST to the Graph API; return the JSON answer or raise ChannelError."""
        headers = self.auth_headers()
        try:
            with http.client(timeout=settings.META_HTTP_TIMEOUT) as client:
                response = client.post(
                    self.graph_url(path), json=json_body, data=data, files=files, headers=headers
                )
        except httpx.HTTPError as exc:
            raise ChannelError(f"Graph API unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise graph_error(response)
        try:
            return as_dict(response.json())
        except ValueError as exc:
            raise ChannelError(f"Graph API answered non-JSON: {response.text[:200]}") from exc

    def graph_get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET from the Graph API; return the JSON answer or raise ChannelError."""
        response = self.download(self.graph_url(path) + "?" + urlencode(params))
        try:
            return as_dict(response.json())
        except ValueError as exc:
            raise ChannelError(f"Graph API answered non-JSON: {response.text[:200]}") from exc

    def download(self, url: str, *, authenticated: bool = True) -> httpx.Response:
        headers = self.auth_headers() if authenticated else {}
        try:
            with http.client(timeout=settings.META_HTTP_TIMEOUT * 3) as client:
                response = client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(f"media download failed: {exc}") from exc
        if response.status_code >= 300:
            raise graph_error(response)
        return response

    def last_inbound_at(self, contact_id: int, channel: str) -> datetime | None:
        """When this contact last wrote to this inbox on `channel` (opens the window)."""
        value: datetime | None = Entry.objects.filter(
            inbox=self.inbox, contact_id=contact_id, channel=channel, kind=Entry.Kind.INBOUND
        ).aggregate(last=Max("occurred_at"))["last"]
        return value

    def latest_parameter(self, contact_id: int, channel: str, key: str) -> str:
        """`key` from the parameters of this contact's latest inbound entry here."""
        parameters = (
            Entry.objects.filter(
                inbox=self.inbox,
                contact_id=contact_id,
                channel=channel,
                kind=Entry.Kind.INBOUND,
                parameters__has_key=key,
            )
            .order_by("-occurred_at", "-id")
            .values_list("parameters", flat=True)
            .first()
        )
        return str(parameters.get(key) or "") if parameters else ""

    def webhook_paths(self) -> list[str]:
        return [reverse("channels_in:meta", args=[self.inbox.slug])]

    def read_attachment(self, attachment: Attachment) -> tuple[str, bytes, str]:
        if not attachment.file:
            raise ChannelError(
                _("%(name)s has not been downloaded yet.") % {"name": attachment.filename}
            )
        with attachment.file.open("rb") as handle:
            content = handle.read()
        return attachment.filename, content, attachment.content_type


# --- Messenger and Instagram ----------------------------------------------------------

# Messenger attachment types we download as files, with the type the Send API uses.
_FILE_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "file"}


class MessagingAdapter(MetaAdapter):
    """Messenger and Instagram DMs: `entry[].messaging[]` (and `standby[]`) events."""

    identity_kind: ClassVar[str] = ""
    product: ClassVar[str] = ""
    # The Send API's longest text message.
    text_limit: ClassVar[int] = 2000
    # User Profile API fields that make up a display name.
    profile_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(inbox)
        self._names: dict[str, str] = {}

    def parse(self, event: InboundEvent) -> list[ParsedItem]:
        data = load_json(bytes(event.body))
        if data.get("object") != self.meta_object:
            return []
        items: list[ParsedItem] = []
        for entry in as_list(data.get("entry")):
            if not self.is_ours(entry.get("id")):
                continue
            for key in ("messaging", "standby"):
                for messaging in as_list(entry.get(key)):
                    items.extend(self.parse_messaging(messaging, standby=key == "standby"))
        return items

    def identity(self, user_id: str) -> list[IdentityRef]:
        try:
            return [normalize(self.identity_kind, user_id)]
        except InvalidIdentity as exc:
            raise BadPayload(f"bad sender id: {exc}") from exc

    def parse_messaging(self, event: dict[str, Any], *, standby: bool) -> list[ParsedItem]:
        sender = str(as_dict(event.get("sender")).get("id") or "")
        recipient = str(as_dict(event.get("recipient")).get("id") or "")
        at = from_epoch(event.get("timestamp"), millis=True)
        if "message" in event:
            return self.parse_message(as_dict(event["message"]), sender, recipient, at, standby)
        if not sender:
            return []
        base: dict[str, Any] = {"sender_id": sender}
        if standby:
            base["standby"] = True
        if "postback" in event:
            postback = as_dict(event["postback"])
            title = str(postback.get("title") or postback.get("payload") or "")
            mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}"
            return [
                self.inbound(
                    sender,
                    body=title,
                    provider_id=str(mid),
                    at=at,
                    parameters={
                        **base,
                        "postback": {
                            "title": postback.get("title"),
                            "payload": postback.get("payload"),
                            "referral": postback.get("referral"),
                        },
                    },
                )
            ]
        if "reaction" in event:
            reaction = as_dict(event["reaction"])
            action = str(reaction.get("action") or "react")
            emoji = str(reaction.get("emoji") or "")
            mid = str(reaction.get("mid") or "")
            body = (
                _("Reacted %(emoji)s") % {"emoji": emoji}
                if action == "react"
                else _("Removed a reaction")
            )
            # A reaction is not a question: is_auto keeps the conversation from waiting.
            return [
                self.inbound(
                    sender,
                    body=body,
                    provider_id=f"reaction:{mid}:{action}:{emoji}:{event.get('timestamp')}",
                    at=at,
                    is_auto=True,
                    thread=ThreadHints(replies_to=[mid] if mid else []),
                    parameters={
                        **base,
                        "reaction": {"message_id": mid, "action": action, "emoji": emoji},
                    },
                )
            ]
        if "delivery" in event:
            delivery = as_dict(event["delivery"])
            mids = [str(m) for m in delivery.get("mids") or [] if m]
            return self.watermark_updates(
                sender, Entry.Delivery.DELIVERED, mids, delivery.get("watermark")
            )
        if "read" in event:
            read = as_dict(event["read"])
            mids = [str(read["mid"])] if read.get("mid") else []
            return self.watermark_updates(sender, Entry.Delivery.READ, mids, read.get("watermark"))
        return []  # referral, optin, handover...: stored with the raw event, nothing to show

    def parse_message(
        self,
        message: dict[str, Any],
        sender: str,
        recipient: str,
        at: datetime | None,
        standby: bool,
    ) -> list[ParsedItem]:
        mid = str(message.get("mid") or "")
        if not mid:
            return []
        echo = bool(message.get("is_echo"))
        # An echo is the page talking: the customer is the recipient.
        customer = recipient if echo else sender
        if not customer:
            return []
        if echo and self.is_own_app(message.get("app_id")):
            # Our own Send API call: the reply is on the timeline already (its mid
            # is recorded when sending returns), so the echo adds nothing.
            return []
        parameters: dict[str, Any] = {"sender_id": customer}
        if standby:
            parameters["standby"] = True
        if echo and message.get("app_id"):
            parameters["app_id"] = message["app_id"]
        if message.get("is_deleted"):
            # The original keeps its entry; this notes that the customer unsent it.
            return [
                self.inbound(
                    customer,
                    body=_("The customer deleted a message."),
                    provider_id=f"{mid}:deleted",
                    at=at,
                    is_auto=True,
                    thread=ThreadHints(replies_to=[mid]),
                    parameters={**parameters, "deleted": mid},
                )
            ]
        body = str(message.get("text") or "")
        attachments: list[AttachmentRef] = []
        shared: list[dict[str, Any]] = []
        for index, attachment in enumerate(as_list(message.get("attachments"))):
            kind = str(attachment.get("type") or "")
            payload = as_dict(attachment.get("payload"))
            url = str(payload.get("url") or "")
            if kind in _FILE_TYPES and url:
                attachments.append(self.attachment_ref(kind, url, mid, index))
            else:
                # story_mention, share, reel, post, fallback, template...: links, kept.
                shared.append({"type": kind, "url": url or None, "title": attachment.get("title")})
                if kind == "story_mention" and not body:
                    body = _("Mentioned you in their story.")
        if shared:
            parameters["shared"] = shared
        if message.get("quick_reply"):
            parameters["quick_reply"] = as_dict(message["quick_reply"]).get("payload")
        reply_to = as_dict(message.get("reply_to"))
        replies_to: list[str] = []
        if reply_to.get("mid"):
            replies_to.append(str(reply_to["mid"]))
            parameters["reply_to"] = str(reply_to["mid"])
        if reply_to.get("story"):
            story = as_dict(reply_to["story"])
            parameters["story_reply"] = {"id": story.get("id"), "url": story.get("url")}
        if message.get("is_unsupported"):
            parameters["unsupported"] = True
            body = body or _("(A message this channel cannot show.)")
        if not body and not attachments and not shared:
            parameters["unsupported"] = True
            body = _("(An empty or unknown message.)")
        return [
            self.inbound(
                customer,
                body=body,
                provider_id=mid,
                at=at,
                attachments=attachments,
                thread=ThreadHints(replies_to=replies_to),
                parameters=parameters,
                direction="outbound" if echo else "inbound",
            )
        ]

    def profile_name(self, user_id: str) -> str:
        """The name of someone new to us, from the Graph API; '' when unknown.

        Webhooks carry no names. Known senders cost nothing: the lookup only runs
        for an id no contact has yet, and a failure just leaves the name empty.
        """
        if user_id not in self._names:
            name = ""
            if not Identity.objects.filter(kind=self.identity_kind, value=user_id).exists():
                try:
                    profile = self.graph_get(user_id, {"fields": ",".join(self.profile_fields)})
                except ChannelError as exc:
                    log.info("no %s profile for %s: %s", self.product, user_id, exc.message)
                    profile = {}
                name = self.name_from_profile(profile)
            self._names[user_id] = name
        return self._names[user_id]

    def name_from_profile(self, profile: dict[str, Any]) -> str:
        return " ".join(str(profile[f]) for f in self.profile_fields if profile.get(f))

    def is_own_app(self, app_id: Any) -> bool:
        ours = str(self.inbox.setting("app_id") or "")
        return bool(ours) and str(app_id or "") == ours

    def attachment_ref(self, kind: str, url: str, mid: str, index: int) -> AttachmentRef:
        path = url.split("?")[0].rstrip("/")
        name = path.rsplit("/", 1)[-1] if "/" in path else ""
        content_type = mimetypes.guess_type(name)[0] or ""
        if not content_type:
            content_type = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg"}.get(
                kind, "application/octet-stream"
            )
        if not name or "." not in name:
            name = f"{kind}-{index + 1}{guess_extension(content_type)}"
        return AttachmentRef(filename=name[:200], content_type=content_type, url=url)

    def inbound(
        self,
        customer: str,
        *,
        body: str,
        provider_id: str,
        at: datetime | None,
        parameters: dict[str, Any],
        attachments: list[AttachmentRef] | None = None,
        thread: ThreadHints | None = None,
        is_auto: bool = False,
        direction: str = "inbound",
    ) -> InboundMessage:
        return InboundMessage(
            inbox_id=self.inbox.pk,
            channel=self.identity_kind,
            identities=self.identity(customer),
            contact_name=self.profile_name(customer),
            body=body,
            provider_id=provider_id,
            occurred_at=at,
            attachments=attachments or [],
            thread=thread or ThreadHints(),
            is_auto=is_auto,
            direction=direction,
            parameters=parameters,
        )

    def watermark_updates(
        self, customer: str, status: str, mids: list[str], watermark: Any
    ) -> list[ParsedItem]:
        """Delivery/read for the listed mids, and for our messages sent to this
        customer up to the watermark (one indexed query per event)."""
        updates = {
            mid: DeliveryUpdate(inbox_id=self.inbox.pk, provider_id=mid, status=status)
            for mid in mids
        }
        until = from_epoch(watermark, millis=True)
        if until is not None and customer:
            contact_ids = Identity.objects.filter(
                kind=self.identity_kind, value=customer
            ).values_list("contact_id", flat=True)
            pending = (
                Entry.objects.filter(
                    inbox=self.inbox,
                    contact_id__in=contact_ids,
                    kind=Entry.Kind.OUTBOUND,
                    occurred_at__lte=until,
                    provider_id__isnull=False,
                    delivery_status__in=[
                        s for s, rank in Entry.DELIVERY_RANK.items() if 3 <= rank < 5
                    ],
                )
                .order_by("-occurred_at")
                .values_list("provider_id", flat=True)[:200]
            )
            for provider_id in pending:
                if provider_id and provider_id not in updates:
                    updates[provider_id] = DeliveryUpdate(
                        inbox_id=self.inbox.pk, provider_id=provider_id, status=status
                    )
        return [*updates.values()]

    # --- outbound --------------------------------------------------------------
    def unavailable_reason(self, entry_channel: str, contact_id: int) -> str:
        last = self.last_inbound_at(contact_id, self.identity_kind)
        if last is None:
            return _("%(product)s lets a page answer only people who wrote to it first.") % {
                "product": self.product
            }
        age = datetime.now(tz=UTC) - last
        if age > HUMAN_AGENT_WINDOW:
            return _(
                "The customer last wrote more than 7 days ago; %(product)s allows no reply now."
            ) % {"product": self.product}
        return ""

    def messaging_type(self, contact_id: int) -> dict[str, str]:
        """RESPONSE inside 24 h, the HUMAN_AGENT tag up to 7 days; refused after that."""
        reason = self.unavailable_reason(self.identity_kind, contact_id)
        if reason:
            raise ChannelError(reason, permanent=True)
        last = self.last_inbound_at(contact_id, self.identity_kind)
        if last is not None and datetime.now(tz=UTC) - last > WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        return {"messaging_type": "RESPONSE"}

    def send(self, entry: Entry) -> str:
        account = self.account_id()
        if not account:
            raise ChannelError(
                _("This inbox has no %(key)s.") % {"key": self.account_key}, permanent=True
            )
        recipient = self.latest_parameter(entry.contact_id, self.identity_kind, "sender_id")
        if not recipient:
            recipient = (
                entry.contact.identities.filter(kind=self.identity_kind)
                .values_list("value", flat=True)
                .first()
                or ""
            )
        if not recipient:
            raise ChannelError(
                _("The contact has no %(product)s id.") % {"product": self.product},
                permanent=True,
            )
        mode = self.messaging_type(entry.contact_id)
        path = f"{account}/messages"
        message_ids: list[str] = []
        for text in split_text(entry.body, self.text_limit):
            answer = self.graph_post(
                path,
                json_body={"recipient": {"id": recipient}, **mode, "message": {"text": text}},
            )
            message_ids.append(str(answer.get("message_id") or ""))
        for attachment in entry.attachments.all():
            filename, content, content_type = self.read_attachment(attachment)
            kind = content_type.split("/")[0]
            kind = kind if kind in ("image", "video", "audio") else "file"
            answer = self.graph_post(
                path,
                data={
                    "recipient": json.dumps({"id": recipient}),
                    **mode,
                    "message": json.dumps(
                        {"attachment": {"type": kind, "payload": {"is_reusable": False}}}
                    ),
                },
                files={"filedata": (filename, content, content_type)},
            )
            message_ids.append(str(answer.get("message_id") or ""))
        first = next((m for m in message_ids if m), "")
        if not first:
            raise ChannelError(_("The Send API returned no message id."))
        return first

    def download_media(self, attachment: Attachment) -> tuple[bytes, str]:
        """The bytes behind an attachment's CDN URL (it expires: fetched at once).

        The URL is signed by itself; our token is not sent to the CDN."""
        response = self.download(attachment.source_url, authenticated=False)
        return response.content, response.headers.get("Content-Type", "")
