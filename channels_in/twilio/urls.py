"""Twilio's URLs, included under /hooks/twilio/ in the channels_in namespace."""

from __future__ import annotations

from django.urls import path

from channels_in.twilio import views

urlpatterns = [
    path("call/<int:conversation_id>/", views.call, name="twilio_call"),
    path("callback/<int:conversation_id>/", views.callback_request, name="twilio_callback_request"),
    path("<slug:slug>/messages", views.messages, name="twilio_messages"),
    path("<slug:slug>/status", views.status, name="twilio_status"),
    path("<slug:slug>/voice", views.voice, name="twilio_voice"),
    path("<slug:slug>/voice/menu", views.voice_menu, name="twilio_voice_menu"),
    path("<slug:slug>/voice/dial", views.voice_dial, name="twilio_voice_dial"),
    path("<slug:slug>/voice/queue", views.voice_queue, name="twilio_voice_queue"),
    path("<slug:slug>/voice/wait", views.voice_wait, name="twilio_voice_wait"),
    path("<slug:slug>/voice/voicemail", views.voice_voicemail, name="twilio_voice_voicemail"),
    path("<slug:slug>/voice/recording", views.voice_recording, name="twilio_voice_recording"),
    path(
        "<slug:slug>/voice/transcription",
        views.voice_transcription,
        name="twilio_voice_transcription",
    ),
    path("<slug:slug>/call-status", views.call_status, name="twilio_call_status"),
    path("<slug:slug>/dial-status", views.dial_status, name="twilio_dial_status"),
]
