"""GET /api/v1/kpi/summary/: KPI.md's JSON for a period and a filter."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kpi.access import can_see_kpis
from kpi.params import ParamError, parse_query, summary_for


class IsSupervisor(BasePermission):
    message = "KPIs are for supervisors and admins."

    def has_permission(self, request: Request, view: object) -> bool:
        return can_see_kpis(request.user)


class SummaryView(APIView):
    permission_classes = (IsAuthenticated, IsSupervisor)

    def get(self, request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except ParamError as exc:
            # Raised, not returned, so the API's exception handler answers in its one
            # error format like every other /api/v1/ endpoint.
            raise ValidationError(str(exc)) from exc
        return Response(summary_for(query))
