"""One error format for the whole API, whatever went wrong:

    {"error": {"code": "not_found", "message": "...", "fields": {"name": ["..."]}}}

`fields` is present (possibly empty) on every error; it maps a field to its messages
for validation errors.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from conversations.actions import ActionError


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{key}.{sub}"] = messages
            elif isinstance(value, list):
                flat: list[str] = []
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        for sub, messages in _flatten(item).items():
                            out[f"{key}.{i}.{sub}"] = messages
                    else:
                        flat.append(str(item))
                if flat:
                    out[str(key)] = flat
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ActionError):
        return Response(error_body("invalid", str(exc)), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django answer 500 (and log it)
    assert isinstance(exc, exceptions.APIException)  # noqa: S101 - DRF only handles these
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = _("The request is not valid.")
        if list(fields) == ["non_field_errors"]:
            message = fields["non_field_errors"][0]
        response.data = error_body("invalid", message, fields)
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        response.data = error_body(str(code), str(detail))
    return response
