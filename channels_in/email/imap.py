"""IMAP polling: fetch new mail by UID, store it raw, then mark it seen.

Sync state per inbox and folder lives in Inbox.config["imap_state"]:
{"<folder>": {"uidvalidity": N, "last_uid": N}}. Order per message:
fetch (BODY.PEEK[], so nothing is marked seen) -> InboundEvent committed ->
\\Seen set -> last_uid advanced. A crash anywhere re-fetches the message on the
next poll; the Message-ID key turns the second store into a duplicate, so a
message is never lost and never recorded twice. If UIDVALIDITY changes the
folder is rescanned from UID 1 and the same key dedupes.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from imapclient import IMAPClient

from channels_in import actions
from channels_in.email.ingest import store_raw
from channels_in.models import Inbox

log = logging.getLogger(__name__)

SEEN = b"\\Seen"


class ImapConfigError(ValueError):
    """The inbox lacks what IMAP polling needs."""


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    uidvalidity: int = 0
    last_uid: int = 0
    errors: list[str] = field(default_factory=list)


def connect(inbox: Inbox) -> IMAPClient:
    host = str(inbox.setting("imap_host") or "")
    if not host:
        raise ImapConfigError(f"inbox {inbox.slug!r} has no imap_host")
    port = int(inbox.setting("imap_port") or 993)
    # imap_security: "ssl" (default on 993), "starttls" (default elsewhere) or "none".
    security = str(inbox.setting("imap_security") or ("ssl" if port == 993 else "starttls"))
    context = ssl.create_default_context()
    client = IMAPClient(
        host,
        port=port,
        ssl=security == "ssl",
        ssl_context=context,
        timeout=settings.EMAIL_IMAP_TIMEOUT,
    )
    if security == "starttls":
        client.starttls(context)
    user = str(inbox.setting("imap_user") or inbox.setting("address") or "")
    client.login(user, inbox.get_secret("imap_password"))
    return client


def poll_inbox(inbox: Inbox, *, client: IMAPClient | None = None) -> PollResult:
    """Fetch and store every message after the last stored UID of the inbox's folder."""
    folder = str(inbox.setting("imap_folder") or "INBOX")
    own_client = client is None
    imap = client or connect(inbox)
    result = PollResult()
    try:
        info: dict[bytes, Any] = imap.select_folder(folder)
        uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        state = dict(inbox.setting("imap_state", {}) or {}).get(folder, {})
        last_uid = int(state.get("last_uid", 0))
        if int(state.get("uidvalidity", 0)) != uidvalidity:
            if state:
                log.warning("UIDVALIDITY of %s/%s changed: rescanning", inbox.slug, folder)
            last_uid = 0
        result.uidvalidity = uidvalidity
        # "N:*" always matches the newest message, even below N: filter again.
        uids = sorted(u for u in imap.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        uids = uids[: settings.EMAIL_IMAP_BATCH]
        stopped = False
        for start in range(0, len(uids), 20):
            if stopped:
                break
            chunk = uids[start : start + 20]
            fetched = imap.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                raw = (fetched.get(uid) or {}).get(b"BODY[]")
                if not isinstance(raw, bytes):
                    result.errors.append(f"UID {uid}: no body returned")
                    stopped = True  # don't advance past it: retried next poll
                    break
                result.fetched += 1
                _event, created = store_raw(
                    inbox,
                    raw,
                    source="imap",
                    meta={
                        "Imap-Folder": folder,
                        "Imap-Uidvalidity": str(uidvalidity),
                        "Imap-Uid": str(uid),
                    },
                )
                if created:
                    result.stored += 1
                else:
                    result.duplicates += 1
                # Only now, with the raw mail committed, is it marked seen.
                imap.add_flags([uid], [SEEN])
                _save_state(inbox, folder, uidvalidity, uid)
                last_uid = uid
        if not uids:
            _save_state(inbox, folder, uidvalidity, last_uid)
        result.last_uid = last_uid
    finally:
        if own_client:
            try:
                imap.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                log.debug("IMAP logout failed", exc_info=True)
    return result


def _save_state(inbox: Inbox, folder: str, uidvalidity: int, last_uid: int) -> None:
    current = dict(inbox.setting("imap_state", {}) or {})
    wanted = {"uidvalidity": uidvalidity, "last_uid": last_uid}
    if current.get(folder) == wanted:
        return
    current[folder] = wanted
    inbox.config = actions.update_inbox_config(inbox.pk, {"imap_state": current})


def poll_locked(inbox_id: int) -> PollResult | None:
    """poll_inbox, unless another worker is polling the same inbox right now."""
    key = f"imap-poll:{inbox_id}"
    if not cache.add(key, 1, timeout=max(60, settings.EMAIL_IMAP_TIMEOUT * 10)):
        return None
    try:
        inbox = Inbox.objects.filter(pk=inbox_id, is_active=True, kind=Inbox.Kind.EMAIL).first()
        if inbox is None or not inbox.setting("imap_host"):
            return None
        return poll_inbox(inbox)
    finally:
        cache.delete(key)


def imap_inbox_ids() -> list[int]:
    return [
        inbox.pk
        for inbox in Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True)
        if inbox.setting("imap_host")
    ]
