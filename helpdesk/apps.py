from __future__ import annotations

from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = "Helpdesk"

    def ready(self) -> None:
        from helpdesk import tasks  # noqa: F401  (registers tasks, so enqueue finds them)
