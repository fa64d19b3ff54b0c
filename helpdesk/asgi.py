"""ASGI entry point: HTTP through Django, websockets under /ws/ through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()  # first, so apps are loaded before consumers import

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from conversations.routing import websocket_urlpatterns  # noqa: E402
from kpi.routing import websocket_urlpatterns as kpi_websocket_urlpatterns  # noqa: E402
from widget.routing import websocket_urlpatterns as widget_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
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
