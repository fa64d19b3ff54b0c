from __future__ import annotations

from django.urls import path

from channels_in import views

app_name = "channels_in"

urlpatterns = [
    path("api/<slug:slug>/", views.api_hook, name="api"),
]
