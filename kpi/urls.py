from __future__ import annotations

from django.urls import path

from kpi import views

app_name = "kpi"

urlpatterns = [
    path("", views.index, name="index"),
    path("export/<slug:table>.csv", views.export, name="export"),
    path("targets/", views.targets, name="targets"),
]
