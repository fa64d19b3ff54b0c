"""Period boundaries in the workspace time zone (settings.WORKSPACE_TIME_ZONE).

A KPI period is a range of local days [start, end): its instants are local
midnights converted to UTC, so a day across a DST change is 23 or 25 hours long.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def workspace_zone() -> ZoneInfo:
    return ZoneInfo(settings.WORKSPACE_TIME_ZONE or "UTC")


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Local midnight of `day` as an aware datetime (UTC-comparable)."""
    return datetime.combine(day, time(0), tzinfo=zone or workspace_zone())


def period_bounds(
    start: date, end: date, zone: ZoneInfo | None = None
) -> tuple[datetime, datetime]:
    """The instants [start 00:00, end 00:00) in the zone; `end` is exclusive."""
    zone = zone or workspace_zone()
    return day_start(start, zone), day_start(end, zone)


def local_day(moment: datetime, zone: ZoneInfo | None = None) -> date:
    return moment.astimezone(zone or workspace_zone()).date()


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before [start, end)."""
    length = end - start
    return start - length, start


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
