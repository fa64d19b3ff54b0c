"""anymail's inbound and tracking webhook URLs, failing closed without a secret.

anymail only warns when ANYMAIL["WEBHOOK_SECRET"] is missing and then accepts
anyone's POST; here such a request is refused with 403 before anymail sees it.
Signature checks specific to an ESP (Mailgun, Mandrill, Postal...) stay on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern

app_name = "anymail"


def webhook_secret_configured() -> bool:
    anymail_settings = getattr(settings, "ANYMAIL", {}) or {}
    return bool(
        anymail_settings.get("WEBHOOK_SECRET") or getattr(settings, "ANYMAIL_WEBHOOK_SECRET", "")
    )


def fail_closed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not webhook_secret_configured():
            return JsonResponse(
                {"error": "e-mail webhooks are disabled: ANYMAIL_WEBHOOK_SECRET is not set"},
                status=403,
            )
        return view(request, *args, **kwargs)

    return guarded


urlpatterns = [
    URLPattern(p.pattern, fail_closed(p.callback), p.default_args, p.name)
    for p in anymail_urls.urlpatterns
    if isinstance(p, URLPattern)
]
