"""HTTP side of the widget: the loader script, uploads, files and the demo page."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from channels_in.adapters.chat import ChatAdapter
from channels_in.models import Inbox
from conversations.actions import ActionError
from conversations.models import Attachment
from widget import actions, ratelimit, strings
from widget.payloads import FILE_SALT, visitor_entry
from widget.sessions import SessionRefused, read_token

log = logging.getLogger(__name__)

# Config changes reach embedded widgets within this many seconds.
LOADER_MAX_AGE = 300


def _chat_inbox(slug: str) -> Inbox:
    inbox = Inbox.objects.filter(slug=slug, kind=Inbox.Kind.CHAT, is_active=True).first()
    if inbox is None:
        raise Http404("no such chat")
    return inbox


@cache
def _widget_source(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip().rstrip(";")


def widget_source() -> str:
    path = finders.find("widget/widget.js")
    if not path:
        raise RuntimeError("static/widget/widget.js is missing")
    if settings.DEBUG:
        _widget_source.cache_clear()  # edits show up on reload while developing
    return _widget_source(str(path))


def base_url(request: HttpRequest) -> str:
    return settings.PUBLIC_URL or f"{request.scheme}://{request.get_host()}"


def widget_config(inbox: Inbox, request: HttpRequest) -> dict[str, Any]:
    adapter = ChatAdapter(inbox)
    language = adapter.language()
    base = base_url(request)
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    with translation.override(language):
        texts = strings.widget_strings()
        fields = [
            {
                "name": f.name,
                "label": strings.field_label(f.name),
                "required": f.required,
                "type": {"email": "email", "phone": "tel"}.get(f.name, "text"),
            }
            for f in adapter.prechat_fields()
        ]
        return {
            "slug": inbox.slug,
            "base": base,
            "ws": f"{ws_base}/ws/widget/{inbox.slug}/",
            "upload": f"{base}/widget/{inbox.slug}/upload/",
            "title": str(inbox.setting("title", "") or inbox.name),
            "greeting": str(inbox.setting("greeting", "") or texts["greeting"]),
            "color": adapter.color(),
            "position": adapter.position(),
            "language": language,
            "prechat": fields,
            "maxChars": settings.WIDGET_MAX_MESSAGE_CHARS,
            "maxUpload": settings.WIDGET_UPLOAD_MAX_BYTES,
            "uploadTypes": settings.WIDGET_UPLOAD_TYPES,
            "t": texts,
        }


@require_GET
def loader(request: HttpRequest, slug: str) -> HttpResponseBase:
    """/widget/<slug>.js: the widget with this inbox's settings baked in."""
    inbox = _chat_inbox(slug)
    config = json.dumps(widget_config(inbox, request), cls=DjangoJSONEncoder)
    # Safe inside any context a host page might paste it into.
    config = config.replace("<", "\\u003c").replace(">", "\\u003e")
    body = f"/* helpdesk chat widget: {inbox.slug} */\n{widget_source()}({config});\n"
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponseBase = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={LOADER_MAX_AGE}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _cors(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "X-Widget-Token"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _error(status: int, code: str, message: str, origin: str = "") -> HttpResponseBase:
    response = JsonResponse({"code": code, "error": message}, status=status)
    return _cors(response, origin) if origin else response


@csrf_exempt
def upload(request: HttpRequest, slug: str) -> HttpResponseBase:
    """POST multipart (file, client_id, body?) with X-Widget-Token: one message with a file.

    Authenticated by the visitor token, not cookies (hence no CSRF), and allowed only
    from the inbox's origins; refusals say why, and nothing is stored for them.
    """
    inbox = _chat_inbox(slug)
    adapter = ChatAdapter(inbox)
    origin = request.headers.get("Origin", "")
    with translation.override(adapter.language()):
        if not adapter.origin_allowed(origin, request.get_host()):
            return _error(
                403,
                "origin_not_allowed",
                _("This website (%(origin)s) is not allowed to use this chat.")
                % {"origin": origin or "?"},
            )
        if request.method == "OPTIONS":
            return _cors(HttpResponse(status=204), origin)
        if request.method != "POST":
            return _error(405, "method", _("Use POST."), origin)
        limit = settings.WIDGET_UPLOAD_MAX_BYTES
        if int(request.headers.get("Content-Length") or 0) > limit + 64 * 1024:
            return _error(
                413,
                "too_large",
                _("This file is too large: the limit is %(limit)s MB.")
                % {"limit": limit // (1024 * 1024)},
                origin,
            )
        try:
            session = read_token(request.headers.get("X-Widget-Token", ""), inbox.pk)
        except SessionRefused as exc:
            return _error(403, exc.code, exc.message, origin)
        ip = request.META.get("REMOTE_ADDR", "unknown")
        if not ratelimit.allow_all(
            [
                ("visitor", session.visitor_id, settings.WIDGET_VISITOR_RATE),
                ("ip", ip, settings.WIDGET_IP_RATE),
            ]
        ):
            return _error(429, "rate_limited", _("Too many uploads; wait a moment."), origin)
        file = request.FILES.get("file")
        if file is None:
            return _error(400, "no_file", _("Choose a file to send."), origin)
        try:
            client_id = uuid.UUID(request.POST.get("client_id", ""))
        except ValueError:
            return _error(400, "client_id", _("Every message needs a client_id (a UUID)."), origin)
        body = request.POST.get("body", "")
        try:
            if len(body) > settings.WIDGET_MAX_MESSAGE_CHARS:
                actions.check_body(body)
            actions.check_upload(file.name or "file", file.content_type or "", file.size or 0)
            recorded = actions.record_upload(
                inbox,
                session,
                client_id,
                (file.name or "file")[:255],
                file.content_type or "application/octet-stream",
                file.read(),
                body.strip(),
            )
        except ActionError as exc:
            status = 413 if (file.size or 0) > settings.WIDGET_UPLOAD_MAX_BYTES else 400
            return _error(status, "refused", str(exc), origin)
    entry = recorded.entry
    return _cors(
        JsonResponse(
            {"client_id": str(client_id), "entry": visitor_entry(entry, inbox.slug)},
            status=201 if recorded.created else 200,
        ),
        origin,
    )


@require_GET
def attachment_file(request: HttpRequest, slug: str, token: str) -> HttpResponseBase:
    """A file on the visitor's own timeline; the signed id in the link is the permission."""
    try:
        attachment_id = signing.loads(token, salt=FILE_SALT)
    except signing.BadSignature:
        raise Http404("no such file") from None
    attachment = (
        Attachment.objects.filter(pk=attachment_id, entry__inbox__slug=slug)
        .exclude(file="")
        .first()
    )
    if attachment is None:
        raise Http404("no such file")
    response = FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        as_attachment=not attachment.is_image,
        filename=attachment.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A pretend customer website with the widget of the first active chat inbox on it."""
    inbox = Inbox.objects.filter(kind=Inbox.Kind.CHAT, is_active=True).order_by("id").first()
    return render(
        request,
        "widget/demo.html",
        {
            "inbox": inbox,
            "script_url": f"/widget/{inbox.slug}.js" if inbox else "",
            "identity": _demo_identity(request, inbox),
        },
    )


def _demo_identity(request: HttpRequest, inbox: Inbox | None) -> dict[str, str] | None:
    """?as=<identifier> signs in a pretend user, as a host site would on its server."""
    from channels_in.adapters.chat import identity_hash

    identifier = request.GET.get("as", "")[:100]
    secret = inbox.get_secret("identity_secret") if inbox else ""
    if not identifier or not secret:
        return None
    return {
        "identifier": identifier,
        "identifier_hash": identity_hash(identifier, secret),
        "name": request.GET.get("name", "")[:100],
        "email": request.GET.get("email", "")[:200],
    }
