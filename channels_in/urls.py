from __future__ import annotations

from django.urls import include, path

from channels_in import views

app_name = "channels_in"

urlpatterns = [
    path("api/<slug:slug>/", views.api_hook, name="api"),
    path("twilio/", include("channels_in.twilio.urls")),
    path("meta/<slug:slug>/", views.meta_hook, name="meta"),
    path("telegram/<slug:slug>/", views.telegram_hook, name="telegram"),
]
