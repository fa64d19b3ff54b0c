from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from helpdesk import health, views
from kpi import api as kpi_api
from kpi import views as kpi_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("inbox/", include("conversations.urls")),
    path("admin/", admin.site.urls),
    path("hooks/", include("channels_in.urls")),
    path("widget/", include("widget.urls")),
    # E-mail inbound and tracking webhooks of the ESPs (signature checks in anymail).
    path("hooks/anymail/", include("channels_in.email.urls")),
    path("api/v1/kpi/summary/", kpi_api.SummaryView.as_view(), name="kpi-summary"),
    path("kpi/", include("kpi.urls")),
    path("survey/<str:token>/", kpi_views.survey, name="survey"),
    path("api/v1/", include("conversations.api_urls")),
    path("api/", include("helpdesk.api_urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
