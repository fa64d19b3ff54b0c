"""DRF authentication by personal API token: `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from helpdesk import tokens
from helpdesk.models import Agent, ApiToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Agent, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: expected 'Bearer <token>'.")
            )
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        token = tokens.find_token(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        tokens.touch(token)
        return token.agent, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 without credentials.
        return self.keyword

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "BearerTokenAuthentication()"


def token_of(request: Any) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "helpdesk.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`manage.py api_token create`).",
        }
