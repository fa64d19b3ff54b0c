"""Webhook endpoints: verify -> store raw -> enqueue on commit -> acknowledge."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
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


# Every webhook names its inbox; reading the row (and its secrets) once per request was
# a quarter of a webhook's cost. Each process keeps an inbox for a few seconds; a change
# made in this process clears it at once, one made elsewhere is seen within the TTL.
INBOX_TTL = 2.0
_inboxes: dict[tuple[str, str], tuple[float, Inbox | None]] = {}


@receiver(post_save, sender=Inbox, dispatch_uid="channels_in.inbox_saved")
@receiver(post_delete, sender=Inbox, dispatch_uid="channels_in.inbox_deleted")
def _forget_inboxes(sender: Any, **kwargs: Any) -> None:
    _inboxes.clear()


def get_inbox(prefix: str, slug: str) -> Inbox:
    now = time.monotonic()
    cached = _inboxes.get((prefix, slug))
    if cached is not None and now - cached[0] <= INBOX_TTL:
        inbox = cached[1]
    else:
        kinds = URL_KINDS.get(prefix, ())
        inbox = Inbox.objects.filter(slug=slug, kind__in=kinds, is_active=True).first()
        if len(_inboxes) > 1000:
            _inboxes.clear()
        _inboxes[(prefix, slug)] = (now, inbox)
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
