from __future__ import annotations

from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "widget"
    verbose_name = "Live chat widget"
    default_auto_field = "django.db.models.BigAutoField"
