"""Every state change of outbound webhooks: emitting events, delivering, disabling."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_in import http
from helpdesk.queue import enqueue, enqueue_on_commit
from webhooks import signing
from webhooks.models import Delivery, Subscription

log = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
EXCERPT_CHARS = 2000
# Longer than any backoff a delivery waits for (WEBHOOK_BACKOFF_SECONDS * 2**attempts).
STALE_AFTER = timedelta(minutes=15)


def emit(event: str, payload: dict[str, Any]) -> list[int]:
    """Log one delivery per active subscription to `event` and enqueue each.

    Returns the delivery ids. Cheap when nobody listens: one small query.
    """
    subscriptions = [s for s in Subscription.objects.filter(is_active=True) if s.wants(event)]
    if not subscriptions:
        return []
    # Through JSON once, so the stored payload is exactly what is sent.
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    with transaction.atomic():
        deliveries = Delivery.objects.bulk_create(
            [Delivery(subscription=s, event=event, payload=data) for s in subscriptions]
        )
        for delivery in deliveries:
            enqueue_on_commit(DELIVER_TASK, delivery.pk)
    return [d.pk for d in deliveries]


def body_of(delivery: Delivery) -> bytes:
    envelope = {
        "id": str(delivery.public_id),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Outcome:
    status: str
    retry: bool = False


def _claim(delivery_id: int) -> Delivery | None:
    # A conditional UPDATE: the same task running twice sends once.
    claimed = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.SENDING,
        attempts=F("attempts") + 1,
        last_attempt_at=timezone.now(),
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("subscription").get(pk=delivery_id)


def deliver(delivery_id: int) -> Outcome | None:
    """One attempt at one delivery; None if there is nothing (left) to do.

    The HTTP call runs outside any transaction. On failure the delivery goes back to
    pending while attempts remain (the task retries it with backoff); the last failed
    attempt fails the delivery and may disable the subscription.
    """
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    subscription = delivery.subscription
    if not subscription.is_active:
        _finish(delivery, Delivery.Status.FAILED, error=_("The subscription is disabled."))
        return Outcome(Delivery.Status.FAILED)
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "X-Helpdesk-Event": delivery.event,
        "X-Helpdesk-Delivery": str(delivery.public_id),
        "X-Helpdesk-Signature": signing.sign(subscription.secret, body),
    }
    status_code: int | None = None
    excerpt = ""
    error = ""
    try:
        with http.client(timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS)) as client:
            response = client.post(subscription.url, content=body, headers=headers)
        status_code = response.status_code
        excerpt = response.text[:EXCERPT_CHARS]
        if not response.is_success:
            error = _("The endpoint answered HTTP %(status)s.") % {"status": status_code}
    except httpx.HTTPError as exc:
        error = _("Request failed: %(error)s") % {"error": exc.__class__.__name__ + f": {exc}"}
    if not error:
        _finish(delivery, Delivery.Status.SUCCEEDED, status_code=status_code, excerpt=excerpt)
        Subscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        return Outcome(Delivery.Status.SUCCEEDED)
    if delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        _finish(
            delivery, Delivery.Status.PENDING, status_code=status_code, excerpt=excerpt, error=error
        )
        return Outcome(Delivery.Status.PENDING, retry=True)
    _finish(delivery, Delivery.Status.FAILED, status_code=status_code, excerpt=excerpt, error=error)
    _count_failure(subscription.pk, error)
    return Outcome(Delivery.Status.FAILED)


def _finish(
    delivery: Delivery,
    status: str,
    *,
    status_code: int | None = None,
    excerpt: str = "",
    error: str = "",
) -> None:
    delivery.status = status
    delivery.response_status = status_code
    delivery.response_excerpt = excerpt
    delivery.error = error[:EXCERPT_CHARS]
    fields = ["status", "response_status", "response_excerpt", "error"]
    if status == Delivery.Status.SUCCEEDED:
        delivery.delivered_at = timezone.now()
        fields.append("delivered_at")
    delivery.save(update_fields=fields)


@transaction.atomic
def _count_failure(subscription_id: int, error: str) -> None:
    subscription = Subscription.objects.select_for_update(no_key=True).get(pk=subscription_id)
    subscription.consecutive_failures += 1
    fields = ["consecutive_failures"]
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if subscription.is_active and subscription.consecutive_failures >= limit:
        subscription.is_active = False
        subscription.disabled_at = timezone.now()
        subscription.disabled_reason = _(
            "Disabled after %(count)s consecutive failed deliveries "
            "(%(attempts)s attempts each). Last error: %(error)s"
        ) % {
            "count": subscription.consecutive_failures,
            "attempts": settings.WEBHOOK_MAX_ATTEMPTS,
            "error": error,
        }
        fields += ["is_active", "disabled_at", "disabled_reason"]
        log.warning("webhook subscription %s disabled: %s", subscription.pk, error)
    subscription.save(update_fields=fields)


def enable(subscription: Subscription) -> Subscription:
    """Re-enable a disabled subscription (admin action); the failure count restarts."""
    subscription.is_active = True
    subscription.disabled_at = None
    subscription.disabled_reason = ""
    subscription.consecutive_failures = 0
    subscription.save(
        update_fields=["is_active", "disabled_at", "disabled_reason", "consecutive_failures"]
    )
    return subscription


def backoff(retries: int) -> int:
    """Seconds before retry number `retries` + 1: base, 2 × base, 4 × base ..."""
    return int(settings.WEBHOOK_BACKOFF_SECONDS) * 2**retries


def sweep(now: datetime | None = None) -> int:
    """Pick up deliveries a lost worker or a broker outage left behind; returns how many.

    A delivery stuck in "sending" (the worker died mid-request) goes back to pending;
    a pending one not tried for STALE_AFTER (its task never reached the broker) is
    enqueued again. Safe beside running tasks: sending is claimed conditionally.
    """
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    Delivery.objects.filter(status=Delivery.Status.SENDING, last_attempt_at__lt=cutoff).update(
        status=Delivery.Status.PENDING
    )
    stale = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .filter(
            Q(last_attempt_at__lt=cutoff) | Q(last_attempt_at__isnull=True, created_at__lt=cutoff)
        )
        .values_list("pk", flat=True)[:500]
    )
    for delivery_id in stale:
        enqueue(DELIVER_TASK, delivery_id)
    return len(stale)
