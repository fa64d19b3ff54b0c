"""Elapsed business time between two instants, on a weekly schedule in an IANA zone.

DST: opening hours are wall-clock times. Each day's intervals are built as local
datetimes with zoneinfo and converted to UTC before any arithmetic; Python
subtracts two datetimes sharing one tzinfo as naive wall-clock values, which
would be an hour off across a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# At most this many local days are walked; longer spans are cut (a reply a year
# late is an outlier, not a reason to loop forever).
MAX_DAYS = 400


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    # weekday (Monday 0) -> [(opens, closes), ...] in wall-clock time
    hours: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_spec(
        cls, zone: str, hours: dict[str, list[list[str]]], holidays: frozenset[date] | None = None
    ) -> Schedule:
        """Build from the stored JSON ({"0": [["09:00", "17:00"]]}); raises ValueError."""
        parsed: dict[int, tuple[tuple[time, time], ...]] = {}
        for weekday, intervals in hours.items():
            day = int(weekday)
            if not 0 <= day <= 6:
                raise ValueError(f"weekday must be 0-6, got {weekday!r}")
            pairs = []
            for opens, closes in intervals:
                start, end = time.fromisoformat(opens), time.fromisoformat(closes)
                if end <= start and end != time(0):
                    raise ValueError(f"{opens}-{closes} closes before it opens")
                pairs.append((start, end))
            parsed[day] = tuple(sorted(pairs))
        return cls(ZoneInfo(zone), parsed, holidays or frozenset())

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's opening hours as UTC instants (none on holidays)."""
        if day in self.holidays:
            return []
        result = []
        for opens, closes in self.hours.get(day.weekday(), ()):
            start = datetime.combine(day, opens, tzinfo=self.zone)
            # "24:00" is written as 00:00 closing: the next local midnight.
            end_day = day + timedelta(days=1) if closes == time(0) else day
            end = datetime.combine(end_day, closes, tzinfo=self.zone)
            result.append((start.astimezone(UTC), end.astimezone(UTC)))
        return result


def business_seconds(start: datetime, end: datetime, schedule: Schedule) -> float:
    """Seconds of [start, end) that fall inside the schedule's opening hours."""
    if end <= start:
        return 0.0
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    day = start.astimezone(schedule.zone).date()
    last = end.astimezone(schedule.zone).date()
    total = 0.0
    walked = 0
    while day <= last and walked < MAX_DAYS:
        for opens, closes in schedule.open_intervals(day):
            lo, hi = max(opens, start_utc), min(closes, end_utc)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
        walked += 1
    return total
