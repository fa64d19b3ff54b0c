"""ASGI entry point: HTTP through Django's WSGI handler on a thread pool, websockets
through Channels.

Django's own ASGI handler runs every sync view of a process on one thread, and on
the way it creates a thread per request (ThreadSensitiveContext) and adapts each
middleware between the event loop and that thread. Measured on this machine's quiet
2 cores: a trivial page cost 2.4-2.7 ms p50 through it, 0.7 ms through the WSGI
handler called from a pool of threads (a2wsgi), and requests of one process no
longer queue behind each other's database waits. Every view here is synchronous, so
nothing is lost: the event loop is left to websockets, which stay with Channels.
"""

from __future__ import annotations

import os
import resource

from django.core.wsgi import get_wsgi_application


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; returns it.

    Every websocket is a file descriptor, and the usual soft limit of 1,024 stops one
    ASGI process far short of the 10,000 idle visitor sockets it should hold
    ("too many open files"). The hard limit is the ceiling the operator allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the old limit; the server still starts
    return soft


raise_open_files_limit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_wsgi_app = get_wsgi_application()  # first, so apps are loaded before consumers import

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from conversations.routing import websocket_urlpatterns  # noqa: E402
from kpi.routing import websocket_urlpatterns as kpi_websocket_urlpatterns  # noqa: E402
from widget.routing import websocket_urlpatterns as widget_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # HttpResponseBase is iterable bytes, as WSGI wants; django-stubs do not say so.
        "http": WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS),  # type: ignore[arg-type]
        # The widget's socket comes from customers' websites: it checks the Origin
        # against its inbox's allowed_origins itself. Everything else is ours only.
        "websocket": URLRouter(
            [
                *widget_websocket_urlpatterns,
                re_path(
                    r"^",
                    AllowedHostsOriginValidator(
                        AuthMiddlewareStack(
                            URLRouter([*websocket_urlpatterns, *kpi_websocket_urlpatterns])
                        )
                    ),
                ),
            ]
        ),
    }
)
