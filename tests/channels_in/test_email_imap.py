"""IMAP polling against a real Dovecot started by the test (apt: dovecot-imapd).

The server runs on a random port of 127.0.0.1 with a temporary config and a
passwd-file user; mail is put there with IMAP APPEND, as an MTA would deliver it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from imapclient import IMAPClient

from channels_in import actions as channel_actions
from channels_in.email import imap
from channels_in.email.ingest import store_raw
from channels_in.email.tasks import poll_imap
from channels_in.models import InboundEvent, Inbox
from conversations.models import Entry
from tests.channels_in.test_email_support import EmailTestCase, build_mail

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "agent", "imap-secret"


@dataclass
class Dovecot:
    port: int
    root: Path

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, *mails: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            for raw in mails:
                client.append(folder, raw)
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        client = self.client()
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}
        finally:
            client.logout()

    def clear(self) -> None:
        client = self.client()
        try:
            client.select_folder("INBOX")
            uids = client.search(["ALL"])
            if uids:
                client.delete_messages(uids)
                client.expunge()
        finally:
            client.logout()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        # Dovecot refuses to run its login processes or mail access as root.
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("dovecot")
    else:
        internal = login = pwd.getpwuid(os.getuid()).pw_name
        mail_user = pwd.getpwuid(os.getuid())
    for path in (root / "home",):
        shutil.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed: apt-get install -y dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = _free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    process = subprocess.Popen(  # noqa: S603 - our fixed binary and config
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Dovecot(port, root)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.client().logout()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline or process.poll() is not None:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    raise RuntimeError(f"Dovecot did not start: {log[-2000:]}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def mails(*numbers: int) -> list[bytes]:
    return [
        build_mail(
            f"Customer {n} <c{n}@example.com>", f"mail {n}", message_id=f"<imap-{n}@example.com>"
        )
        for n in numbers
    ]


class ImapPollTests(EmailTestCase):
    server: Dovecot

    @pytest.fixture(autouse=True)
    def _dovecot(self, dovecot: Dovecot) -> Iterator[None]:
        self.server = dovecot
        dovecot.clear()
        yield

    def setUp(self) -> None:
        self.inbox = channel_actions.create_inbox(
            "email",
            "imap",
            team_id=self.support.pk,
            values={
                "address": "imap@support.example.com",
                "imap_host": "127.0.0.1",
                "imap_port": str(self.server.port),
                "imap_user": USER,
                "imap_password": PASSWORD,
                "imap_security": "none",
            },
        )

    def poll(self) -> imap.PollResult:
        with self.captureOnCommitCallbacks(execute=True):
            result = imap.poll_inbox(Inbox.objects.get(pk=self.inbox.pk))
        return result

    def state(self) -> dict[str, Any]:
        self.inbox.refresh_from_db()
        return dict(self.inbox.config["imap_state"]["INBOX"])

    def test_new_mail_is_stored_recorded_and_marked_seen_once(self):
        self.server.deliver(*mails(1, 2))
        result = self.poll()
        self.assertEqual((result.fetched, result.stored), (2, 2))
        self.assertEqual(
            sorted(Entry.objects.filter(kind="inbound").values_list("body", flat=True)),
            ["mail 1", "mail 2"],
        )
        self.assertTrue(all(b"\\Seen" in flags for flags in self.server.flags().values()))
        self.assertEqual(self.state()["last_uid"], max(self.server.flags()))
        event = InboundEvent.objects.filter(inbox=self.inbox).first()
        assert event is not None
        self.assertEqual(event.headers["Source"], "imap")
        # Nothing new: nothing fetched. One more mail: only that one.
        self.assertEqual(self.poll().fetched, 0)
        self.server.deliver(*mails(3))
        result = self.poll()
        self.assertEqual((result.fetched, result.stored), (1, 1))
        self.assertEqual(InboundEvent.objects.filter(inbox=self.inbox).count(), 3)

    def test_a_crash_between_fetch_and_store_loses_nothing(self):
        self.server.deliver(*mails(1, 2, 3))
        calls = {"n": 0}

        def crash_on_second(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise ConnectionError("worker killed between fetch and store")
            return store_raw(*args, **kwargs)

        with mock.patch.object(imap, "store_raw", crash_on_second):
            with self.assertRaises(ConnectionError):
                self.poll()
        flags = self.server.flags()
        first, second, third = sorted(flags)
        self.assertIn(b"\\Seen", flags[first])
        self.assertNotIn(b"\\Seen", flags[second])  # fetched with BODY.PEEK[]: still unseen
        self.assertNotIn(b"\\Seen", flags[third])
        self.assertEqual(self.state()["last_uid"], first)
        self.assertEqual(InboundEvent.objects.filter(inbox=self.inbox).count(), 1)

        result = self.poll()
        self.assertEqual((result.fetched, result.stored, result.duplicates), (2, 2, 0))
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 3)
        self.assertTrue(all(b"\\Seen" in f for f in self.server.flags().values()))

    def test_a_crash_after_store_before_marking_seen_records_the_mail_once(self):
        self.server.deliver(*mails(1))
        with mock.patch.object(IMAPClient, "add_flags", side_effect=ConnectionError("gone")):
            with self.assertRaises(ConnectionError):
                self.poll()
        self.assertEqual(InboundEvent.objects.filter(inbox=self.inbox).count(), 1)
        result = self.poll()
        self.assertEqual((result.fetched, result.stored, result.duplicates), (1, 0, 1))
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 1)
        self.assertTrue(all(b"\\Seen" in f for f in self.server.flags().values()))

    def test_a_changed_uidvalidity_rescans_without_duplicates(self):
        self.server.deliver(*mails(1, 2))
        self.poll()
        state = self.state()
        channel_actions.update_inbox_config(
            self.inbox.pk,
            {"imap_state": {"INBOX": {"uidvalidity": state["uidvalidity"] + 1, "last_uid": 999}}},
        )
        self.server.deliver(*mails(3))
        result = self.poll()
        self.assertEqual((result.fetched, result.stored, result.duplicates), (3, 1, 2))
        self.assertEqual(Entry.objects.filter(kind="inbound").count(), 3)
        self.assertEqual(self.state()["uidvalidity"], state["uidvalidity"])

    def test_the_same_mail_through_a_file_and_imap_is_one_event(self):
        [raw] = mails(7)
        with self.captureOnCommitCallbacks(execute=True):
            store_raw(self.inbox, raw, source="file")
        self.server.deliver(raw)
        result = self.poll()
        self.assertEqual((result.stored, result.duplicates), (0, 1))
        self.assertEqual(InboundEvent.objects.filter(inbox=self.inbox).count(), 1)

    def test_the_beat_task_polls_every_imap_inbox(self):
        self.server.deliver(*mails(1))
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(poll_imap(), 1)  # the plain email inbox has no imap_host
        self.assertEqual(Entry.objects.filter(kind="inbound", inbox=self.inbox).count(), 1)

    def test_a_wrong_password_is_an_error(self):
        channel_actions.update_inbox_config(self.inbox.pk, {"imap_user": "nobody"})
        with self.assertRaises(Exception):  # noqa: B017 - imaplib's LoginError
            self.poll()
        self.assertFalse(InboundEvent.objects.filter(inbox=self.inbox).exists())
