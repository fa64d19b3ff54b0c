from __future__ import annotations

from django.urls import path

from channels_in import views

app_name = "channels_in"

urlpatterns = [
    path("api/<slug:slug>/", views.api_hook, name="api"),
    path("meta/<slug:slug>/", views.meta_hook, name="meta"),
    path("telegram/<slug:slug>/", views.telegram_hook, name="telegram"),
]
