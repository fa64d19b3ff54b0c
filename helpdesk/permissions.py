"""API permissions: token scopes. Object access itself lives in <app>/access.py."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from helpdesk.authentication import token_of


class TokenScope(permissions.BasePermission):
    """Reads for any authenticated agent; writes need a write-scoped token (or a session)."""

    message = _("This API token is read-only; writes need a token with the write scope.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        token = token_of(request)
        return token is None or token.can_write


class IsAdminAgent(permissions.BasePermission):
    message = _("Only administrators may do this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.is_superuser or getattr(user, "role", "") == "admin")
        )
