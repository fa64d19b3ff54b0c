from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _changed(conversation_id: int) -> None:
    # One quick INSERT, then a debounced refresh: the watermark alone would miss a
    # change stamped before the previous run but committed after it.
    from kpi.actions import mark_dirty
    from kpi.tasks import schedule_refresh

    mark_dirty(conversation_id)
    schedule_refresh()


def _on_conversation_changed(sender: Any, conversation_id: int, change: str, **kwargs: Any) -> None:
    from helpdesk.queue import enqueue

    if change == "status" and kwargs.get("new") == "resolved":
        enqueue("kpi.request_survey", conversation_id)
    _changed(conversation_id)


def _on_entry_created(sender: Any, entry_id: int, conversation_id: int, **kwargs: Any) -> None:
    from helpdesk.queue import enqueue
    from kpi.surveys import awaits_text_answer

    if kwargs.get("kind") == "inbound" and awaits_text_answer(conversation_id):
        enqueue("kpi.survey_reply", entry_id)
    if kwargs.get("kind") != "note":
        _changed(conversation_id)


def _is_survey_answer(
    sender: Any, conversation_id: int, channel: str, body: str, **kwargs: Any
) -> bool:
    """A "4" answering our "reply 1-5" is a survey answer, not a reopened problem."""
    from kpi.surveys import TEXT_CHANNELS, awaits_text_answer, parse_text_score

    return (
        channel in TEXT_CHANNELS
        and parse_text_score(body) is not None
        and awaits_text_answer(conversation_id)
    )


def _on_conversation_created(sender: Any, conversation_id: int, **kwargs: Any) -> None:
    _changed(conversation_id)


def _on_contacts_merged(sender: Any, target_id: int, **kwargs: Any) -> None:
    from helpdesk.queue import enqueue

    enqueue("kpi.contact_changed", target_id)


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = _("KPIs")

    def ready(self) -> None:
        from conversations import signals

        signals.conversation_changed.connect(_on_conversation_changed, dispatch_uid="kpi.changed")
        signals.entry_created.connect(_on_entry_created, dispatch_uid="kpi.entry")
        signals.conversation_created.connect(_on_conversation_created, dispatch_uid="kpi.created")
        signals.contacts_merged.connect(_on_contacts_merged, dispatch_uid="kpi.merged")
        signals.keeps_resolved.connect(_is_survey_answer, dispatch_uid="kpi.survey_answer")
