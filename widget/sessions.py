"""Visitor sessions: an anonymous, signed token the widget keeps in localStorage.

The token names the inbox and a random visitor id (the chat identity of the
contact); when the host site vouched for a logged-in user (identifier_hash), it
names that identifier too, so the session can't be replayed as another user.
A token is a bearer credential: it only ever opens its own visitor's timeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "widget.visitor"


class SessionRefused(Exception):
    """The visitor may not continue; `code` is for the widget, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VisitorSession:
    inbox_id: int
    visitor_id: str
    # The host site's verified user id, "" for anonymous visitors.
    identifier: str = ""

    def token(self) -> str:
        return signing.dumps(
            {"i": self.inbox_id, "v": self.visitor_id, "u": self.identifier},
            salt=SALT,
            compress=True,
        )


def new_session(inbox_id: int, identifier: str = "") -> VisitorSession:
    return VisitorSession(inbox_id, uuid.uuid4().hex, identifier)


def read_token(token: str, inbox_id: int) -> VisitorSession:
    """The session a token proves; raise SessionRefused for forged, foreign or old ones."""
    from django.utils.translation import gettext as _

    try:
        data = signing.loads(token, salt=SALT, max_age=settings.WIDGET_TOKEN_MAX_AGE_DAYS * 86400)
    except signing.SignatureExpired:
        raise SessionRefused("token_expired", _("This chat session has expired.")) from None
    except signing.BadSignature:
        raise SessionRefused(
            "bad_token", _("This chat session is not valid here; a new one is needed.")
        ) from None
    if not isinstance(data, dict) or data.get("i") != inbox_id or not data.get("v"):
        raise SessionRefused(
            "bad_token", _("This chat session belongs to another chat; a new one is needed.")
        )
    return VisitorSession(inbox_id, str(data["v"]), str(data.get("u") or ""))
