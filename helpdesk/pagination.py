"""Cursor pagination for the API: stable while new rows arrive.

Lists are ordered by a key that never changes for a row (the id, or the time
plus id for timelines), so rows inserted between two page fetches land before
the first page and never shift the old rows: no duplicates, no gaps.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class StableCursorPagination(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int:
        size = request.query_params.get(self.page_size_query_param, "")
        maximum = int(settings.API_MAX_PAGE_SIZE)
        if size.isdigit() and int(size) > 0:
            return min(int(size), maximum)
        return int(settings.API_PAGE_SIZE)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        result = super().get_paginated_response_schema(schema)
        result["properties"]["next"]["description"] = "URL of the next page, or null"
        result["properties"]["previous"]["description"] = "URL of the previous page, or null"
        result["properties"]["results"]["description"] = "The rows of this page"
        return result


class TimelinePagination(StableCursorPagination):
    ordering = ("occurred_at", "id")  # type: ignore[assignment]
