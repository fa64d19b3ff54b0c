"""OpenAPI generation: every operation documents the one error format it may answer."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        help_text=_("Machine-readable: invalid, not_found, not_authenticated, ...")
    )
    message = serializers.CharField(help_text=_("Human-readable explanation"))
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("For validation errors: messages per field (dotted paths)"),
    )


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer(help_text=_("What went wrong"))


ERROR_RESPONSES = {
    "400": _("The request is not valid"),
    "401": _("No or invalid credentials"),
    "403": _("Not allowed (e.g. a read-only token writing)"),
    "404": _("No such object, or no access to it"),
    "405": _("Method not allowed"),
    "406": _("Not acceptable"),
    "415": _("Unsupported media type"),
    "429": _("Rate limit exceeded; see Retry-After"),
}


class HelpdeskAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, description in ERROR_RESPONSES.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = str(description)
                responses[code] = response
        return responses
