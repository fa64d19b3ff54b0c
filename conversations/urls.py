from __future__ import annotations

from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("bulk/", views.bulk, name="bulk"),
    path("search/", views.search_view, name="search"),
    path("notifications/", views.notifications, name="notifications"),
    path("c/<int:pk>/", views.conversation_detail, name="detail"),
    path("c/<int:pk>/entries/", views.entries_fragment, name="entries"),
    path("c/<int:pk>/reply/", views.reply, name="reply"),
    path("c/<int:pk>/note/", views.note, name="note"),
    path("c/<int:pk>/assign/", views.assign, name="assign"),
    path("c/<int:pk>/status/", views.status, name="status"),
    path("c/<int:pk>/priority/", views.priority, name="priority"),
    path("c/<int:pk>/labels/", views.labels, name="labels"),
    path("c/<int:pk>/retry/<uuid:entry>/", views.retry, name="retry"),
    path("contacts/<int:pk>/", views.contact_update, name="contact_update"),
    path("contacts/<int:pk>/identities/", views.identity_add, name="identity_add"),
    path("contacts/<int:pk>/merge/", views.contact_merge, name="contact_merge"),
    path("identities/<int:pk>/remove/", views.identity_remove, name="identity_remove"),
    path("identities/<int:pk>/verify/", views.identity_verify, name="identity_verify"),
]
