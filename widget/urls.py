from __future__ import annotations

from django.urls import path

from widget import views

app_name = "widget"

urlpatterns = [
    path("demo/", views.demo, name="demo"),
    path("<slug:slug>.js", views.loader, name="loader"),
    path("<slug:slug>/upload/", views.upload, name="upload"),
    path("<slug:slug>/files/<str:token>/", views.attachment_file, name="file"),
]
