"""Twilio's webhook endpoints (all through the generic verify -> store -> acknowledge),
and the agent's click-to-call and callback-request buttons."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_in import views as hooks
from channels_in.twilio import calls
from conversations.access import get_conversation_for_agent
from conversations.actions import ActionError


def _hook(topic: str):  # type: ignore[no-untyped-def]
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        return hooks.receive(request, "twilio", slug, topic)

    view.__name__ = f"twilio_{topic.replace('-', '_')}"
    return view


messages = _hook("messages")
status = _hook("status")
voice = _hook("voice")
voice_menu = _hook("voice-menu")
voice_dial = _hook("voice-dial")
voice_queue = _hook("voice-queue")
voice_wait = _hook("voice-wait")
voice_voicemail = _hook("voice-voicemail")
voice_recording = _hook("voice-recording")
voice_transcription = _hook("voice-transcription")
call_status = _hook("call-status")
dial_status = _hook("dial-status")


@login_required
@require_POST
def call(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Click to call: Twilio rings the agent's phone, then the customer."""
    conversation = get_conversation_for_agent(request.user, conversation_id)  # type: ignore[arg-type]
    try:
        entry = calls.start_call(conversation, request.user)  # type: ignore[arg-type]
    except ActionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "ok": True,
            "entry": str(entry.public_id),
            "call_sid": entry.provider_id,
            "status": entry.parameters.get("status", ""),
        },
        status=201,
    )


@login_required
@require_POST
def callback_request(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Note that the customer wants a call back; the conversation waits for it."""
    conversation = get_conversation_for_agent(request.user, conversation_id)  # type: ignore[arg-type]
    try:
        entry = calls.request_callback(conversation, request.user, source="agent")  # type: ignore[arg-type]
    except ActionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"ok": True, "entry": str(entry.public_id)}, status=201)
