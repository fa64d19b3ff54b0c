from __future__ import annotations

import gzip
import json
import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from conversations.models import Attachment, Entry
from tests.widget.helpers import ORIGIN, make_chat_inbox
from widget.sessions import VisitorSession, new_session

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()


@pytest.fixture
def inbox():
    return make_chat_inbox(color="#0f766e", greeting="Ahoy!", prechat_fields="name*,email")


def config_of(body: str) -> dict:
    start = body.rindex("({") + 1
    return json.loads(body[start : body.rindex(");")])


def test_the_loader_is_javascript_with_the_inbox_settings_baked_in(client, inbox):
    response = client.get("/widget/site.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.content.decode()
    config = config_of(body)
    assert config["color"] == "#0f766e"
    assert config["greeting"] == "Ahoy!"
    assert config["ws"] == "ws://testserver/ws/widget/site/"
    assert config["prechat"] == [
        {"name": "name", "label": "Name", "required": True, "type": "text"},
        {"name": "email", "label": "E-mail", "required": False, "type": "email"},
    ]
    assert config["t"]["send"] == "Send"
    assert "innerHTML = ICON" in body  # static icons only; user text uses textContent


def test_the_loader_answers_304_to_a_matching_etag(client, inbox):
    etag = client.get("/widget/site.js")["ETag"]
    response = client.get("/widget/site.js", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304


def test_the_loader_speaks_the_inbox_language(client):
    make_chat_inbox("hr-site", language="hr")
    config = config_of(client.get("/widget/hr-site.js").content.decode())
    assert config["language"] == "hr"


def test_the_widget_is_small(client, inbox):
    body = client.get("/widget/site.js").content
    assert len(gzip.compress(body)) < 30 * 1024


def test_an_unknown_or_removed_inbox_has_no_loader(client, inbox):
    from channels_in.actions import remove_inbox

    assert client.get("/widget/nope.js").status_code == 404
    remove_inbox(inbox)
    assert client.get("/widget/site.js").status_code == 404


def test_a_hostile_config_value_cannot_break_out_of_the_script(client):
    make_chat_inbox("evil", title="</script><script>alert(1)</script>")
    body = client.get("/widget/evil.js").content.decode()
    assert "</script>" not in body
    assert config_of(body)["title"] == "</script><script>alert(1)</script>"


def upload(
    client,
    session: VisitorSession | None,
    *,
    origin=ORIGIN,
    name="photo.png",
    content=b"\x89PNG fake",
    content_type="image/png",
    client_id=None,
):
    headers = {}
    if origin:
        headers["HTTP_ORIGIN"] = origin
    if session is not None:
        headers["HTTP_X_WIDGET_TOKEN"] = session.token()
    data = {
        "file": SimpleUploadedFile(name, content, content_type=content_type),
        "client_id": client_id or str(uuid.uuid4()),
    }
    return client.post("/widget/site/upload/", data, **headers)


def test_an_upload_is_a_message_with_its_file(client, inbox, django_capture_on_commit_callbacks):
    session = new_session(inbox.pk)
    client_id = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, session, client_id=client_id)
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    entry = response.json()["entry"]
    assert entry["client_id"] == client_id
    [attachment] = entry["attachments"]
    assert attachment["filename"] == "photo.png"
    stored = Attachment.objects.get()
    assert stored.entry.channel == "chat"
    # The same upload again (a retry) is the same message.
    again = upload(client, session, client_id=client_id)
    assert again.status_code == 200
    assert Entry.objects.count() == 1
    # The visitor can fetch it through the signed link, nobody can guess another.
    fetched = client.get(attachment["url"])
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == b"\x89PNG fake"
    assert client.get(attachment["url"][:-6] + "xxxxx/").status_code == 404


@override_settings(WIDGET_UPLOAD_MAX_BYTES=10)
def test_an_oversized_upload_is_refused_clearly(client, inbox):
    response = upload(client, new_session(inbox.pk), content=b"x" * 11)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert not Entry.objects.exists()


def test_a_blocked_file_type_is_refused_clearly(client, inbox):
    response = upload(
        client, new_session(inbox.pk), name="x.exe", content_type="application/x-msdownload"
    )
    assert response.status_code == 400
    assert "not accepted" in response.json()["error"] or "can't be sent" in response.json()["error"]
    response = upload(client, new_session(inbox.pk), name="x.svg", content_type="image/svg+xml")
    assert response.status_code == 400
    assert "can't be sent" in response.json()["error"]
    assert not Entry.objects.exists()


def test_an_upload_from_another_website_or_without_token_is_refused(client, inbox):
    assert upload(client, new_session(inbox.pk), origin="https://evil.example").status_code == 403
    assert upload(client, new_session(inbox.pk), origin=None).status_code == 403
    response = upload(client, None)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_token"
    other = make_chat_inbox("other")
    assert upload(client, new_session(other.pk)).status_code == 403
    assert not Entry.objects.exists()


def test_the_upload_preflight_allows_the_token_header(client, inbox):
    response = client.options("/widget/site/upload/", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Headers"] == "X-Widget-Token"
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@override_settings(WIDGET_VISITOR_RATE=2)
def test_uploads_are_rate_limited(client, inbox):
    session = new_session(inbox.pk)
    codes = [upload(client, session).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_the_demo_page_embeds_the_first_chat_inbox(client, inbox):
    response = client.get("/widget/demo/")
    assert response.status_code == 200
    assert b'src="/widget/site.js"' in response.content


def test_the_demo_page_without_a_chat_inbox_says_how_to_add_one(client):
    response = client.get("/widget/demo/")
    assert response.status_code == 200
    assert b"inbox add chat" in response.content


def test_the_demo_page_can_sign_in_a_pretend_user_safely(client, inbox):
    response = client.get("/widget/demo/", {"as": "user-1", "name": "</script><b>x"})
    assert response.status_code == 200
    assert b"</script><b>" not in response.content
    assert b"identifier_hash" in response.content
