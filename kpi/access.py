"""Who may see KPIs: supervisors and admins (agents get 403)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied


def can_see_kpis(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and getattr(user, "sees_all_teams", False))


def require_kpi_access(user: Any) -> None:
    if not can_see_kpis(user):
        raise PermissionDenied("KPIs are for supervisors and admins.")
