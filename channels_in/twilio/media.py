"""Fetching the files of an inbound MMS / WhatsApp message into our storage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from channels_in import http
from channels_in.models import Inbox
from conversations import actions as core
from conversations.models import Attachment

log = logging.getLogger(__name__)


@dataclass
class Fetched:
    stored: int = 0
    failed: int = 0
    retry: bool = False


def is_twilio_url(url: str) -> bool:
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    return parsed.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com"))


def fetch_message_media(inbox_id: int, message_sid: str) -> Fetched:
    """Download every not-yet-stored attachment of the message; safe to run twice.

    Twilio media URLs may require HTTP Basic auth with the account SID and auth
    token ("enforce HTTP auth on media"); they redirect to a signed storage URL,
    and httpx drops our credentials on that cross-origin redirect.
    """
    outcome = Fetched()
    inbox = Inbox.objects.filter(pk=inbox_id).first()
    if inbox is None:
        return outcome
    auth = (str(inbox.setting("account_sid") or ""), inbox.get_secret("auth_token"))
    pending = list(
        Attachment.objects.filter(
            entry__inbox_id=inbox_id, entry__provider_id=message_sid, file=""
        ).exclude(source_url="")
    )
    if not pending:
        return outcome
    with http.client(timeout=60.0) as client:
        for attachment in pending:
            if not is_twilio_url(attachment.source_url):
                # Our credentials go only to Twilio, whatever a payload names.
                log.warning("not fetching media outside Twilio: %s", attachment.source_url)
                outcome.failed += 1
                continue
            try:
                response = client.get(attachment.source_url, auth=auth, follow_redirects=True)
            except httpx.HTTPError as exc:
                log.warning("fetching %s failed: %s", attachment.source_url, exc)
                outcome.retry = True
                continue
            if response.status_code == 429 or response.status_code >= 500:
                outcome.retry = True
                continue
            if response.status_code != 200:
                log.warning(
                    "fetching %s answered HTTP %s", attachment.source_url, response.status_code
                )
                outcome.failed += 1
                continue
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            try:
                core.attach_file(attachment.pk, response.content, content_type)
            except core.ActionError as exc:
                log.warning("media %s refused: %s", attachment.source_url, exc)
                outcome.failed += 1
                continue
            outcome.stored += 1
    return outcome
