from __future__ import annotations

from django.contrib import admin

from kpi.models import BusinessSchedule, Holiday, KpiTarget, SurveyRequest, SurveyResponse


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(BusinessSchedule)
class BusinessScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "time_zone")
    inlines = (HolidayInline,)


@admin.register(KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    list_display = ("metric", "label", "green", "amber", "direction", "unit")


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    list_display = ("conversation", "survey", "score", "channel", "received_at")
    list_filter = ("survey", "channel")
    raw_id_fields = ("conversation", "contact", "entry", "request")


@admin.register(SurveyRequest)
class SurveyRequestAdmin(admin.ModelAdmin):
    list_display = ("conversation", "survey", "channel", "created_at", "answered_at")
    raw_id_fields = ("conversation", "contact")
