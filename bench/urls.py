"""helpdesk.urls plus the bare Django page (see bench/settings.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from helpdesk.urls import urlpatterns as product_urlpatterns

BARE_PAGE_PATH = "/bench/bare/"


def bare(request: HttpRequest) -> HttpResponse:
    """A trivial view through the whole middleware stack: no query, no template."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path(BARE_PAGE_PATH.lstrip("/"), bare, name="bench-bare"), *product_urlpatterns]
