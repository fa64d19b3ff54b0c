from __future__ import annotations

from django.apps import AppConfig


class ChannelsInConfig(AppConfig):
    name = "channels_in"
    verbose_name = "Channels"

    def ready(self) -> None:
        from channels_in import checks, media, receivers, tasks  # noqa: F401  (registers them)
        from channels_in.email import receivers as email_receivers  # noqa: F401
        from channels_in.email import tasks as email_tasks  # noqa: F401
