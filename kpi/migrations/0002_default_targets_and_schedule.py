"""Sensible default targets and a Monday-Friday 9-17 workspace schedule."""

from __future__ import annotations

from typing import Any

from django.db import migrations

HOUR = 3600.0

TARGETS = [
    # metric, label, green, amber, direction, unit
    ("frt_median", "First response (median)", 1 * HOUR, 4 * HOUR, "lower", "seconds"),
    ("frt_p90", "First response (p90)", 4 * HOUR, 12 * HOUR, "lower", "seconds"),
    (
        "business_frt_median",
        "First response, business hours",
        0.5 * HOUR,
        2 * HOUR,
        "lower",
        "seconds",
    ),
    ("resolution_median", "Resolution time (median)", 24 * HOUR, 72 * HOUR, "lower", "seconds"),
    ("fcr", "First contact resolution", 70.0, 55.0, "higher", "percent"),
    ("csat", "CSAT", 85.0, 75.0, "higher", "percent"),
    ("nps", "NPS", 30.0, 0.0, "higher", "score"),
    ("channel_switch", "Channel switch rate", 15.0, 25.0, "lower", "percent"),
    ("backlog_oldest", "Oldest waiting", 4 * HOUR, 24 * HOUR, "lower", "seconds"),
]


def create_defaults(apps: Any, schema_editor: Any) -> None:
    KpiTarget = apps.get_model("kpi", "KpiTarget")
    for metric, label, green, amber, direction, unit in TARGETS:
        KpiTarget.objects.get_or_create(
            metric=metric,
            defaults={
                "label": label,
                "green": green,
                "amber": amber,
                "direction": direction,
                "unit": unit,
            },
        )
    BusinessSchedule = apps.get_model("kpi", "BusinessSchedule")
    if not BusinessSchedule.objects.filter(team__isnull=True).exists():
        BusinessSchedule.objects.create(
            name="Workspace",
            time_zone="",
            hours={str(day): [["09:00", "17:00"]] for day in range(5)},
        )


class Migration(migrations.Migration):
    dependencies = [("kpi", "0001_create_surveys_facts_targets_schedules")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
