"""Webhook endpoints: verify -> store raw -> enqueue on commit -> acknowledge."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from channels_in import actions
from channels_in.base import ChannelError, SignatureError
from channels_in.models import Inbox
from channels_in.registry import adapter_for

log = logging.getLogger(__name__)

# URL prefix -> the inbox kinds it serves (Meta's three products share one path shape).
URL_KINDS: dict[str, tuple[str, ...]] = {
    "api": ("api",),
    "twilio": ("twilio",),
    "meta": ("whatsapp_cloud", "messenger", "instagram"),
    "telegram": ("telegram",),
}


def get_inbox(prefix: str, slug: str) -> Inbox:
    kinds = URL_KINDS.get(prefix, ())
    inbox = Inbox.objects.filter(slug=slug, kind__in=kinds, is_active=True).first()
    if inbox is None:
        raise Http404("no such inbox")
    return inbox


def receive(request: HttpRequest, prefix: str, slug: str, topic: str = "") -> HttpResponse:
    inbox = get_inbox(prefix, slug)
    adapter = adapter_for(inbox)
    try:
        adapter.verify(request)
    except SignatureError as exc:
        log.warning("refused webhook for inbox %s: %s", inbox.slug, exc.message)
        return JsonResponse({"error": exc.message}, status=403)
    try:
        event_id = adapter.identify(request, topic)
    except ChannelError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    event, _created = actions.store_event(
        inbox, event_id, topic, request.body, actions.request_headers(request)
    )
    return adapter.acknowledge(request, event)


@csrf_exempt
@require_POST
def api_hook(request: HttpRequest, slug: str) -> HttpResponse:
    return receive(request, "api", slug)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_hook(request: HttpRequest, slug: str) -> HttpResponse:
    """WhatsApp Cloud, Messenger, Instagram: GET is Meta's subscription handshake."""
    if request.method == "GET":
        from channels_in.adapters.meta import MetaAdapter

        adapter = adapter_for(get_inbox("meta", slug))
        if not isinstance(adapter, MetaAdapter):
            raise Http404("no such inbox")
        return adapter.handshake(request.GET)
    return receive(request, "meta", slug)


@csrf_exempt
@require_POST
def telegram_hook(request: HttpRequest, slug: str) -> HttpResponse:
    return receive(request, "telegram", slug)
