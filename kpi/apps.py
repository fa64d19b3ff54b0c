from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _mark_changed(*conversation_ids: int) -> None:
    # One quick INSERT, then a debounced refresh: the watermark alone would miss a
    # change stamped before the previous run but committed after it.
    from kpi.actions import mark_dirty
    from kpi.tasks import schedule_refresh

    mark_dirty(*conversation_ids)
    schedule_refresh()


def _changed(conversation_id: int) -> None:
    from conversations.signals import coalesce

    # A batch of inbound messages marks all its conversations in one INSERT.
    coalesce(_mark_changed, conversation_id)


def _ask_survey_replies(*created: tuple[int, int]) -> None:
    """Hand inbound messages that may answer a "reply 1-5" survey to the survey task."""
    from helpdesk.queue import enqueue
    from kpi.surveys import awaiting_text_answer

    waiting = awaiting_text_answer({conversation_id for _, conversation_id in created})
    for entry_id, conversation_id in created:
        if conversation_id in waiting:
            enqueue("kpi.survey_reply", entry_id)


def _on_conversation_changed(sender: Any, conversation_id: int, change: str, **kwargs: Any) -> None:
    from helpdesk.queue import enqueue

    if change == "status" and kwargs.get("new") == "resolved":
        enqueue("kpi.request_survey", conversation_id)
    _changed(conversation_id)


def _on_entry_created(sender: Any, entry_id: int, conversation_id: int, **kwargs: Any) -> None:
    from conversations.signals import coalesce

    if kwargs.get("kind") == "inbound":
        coalesce(_ask_survey_replies, (entry_id, conversation_id))
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
