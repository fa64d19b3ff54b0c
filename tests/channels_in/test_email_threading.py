"""Threading: Message-ID/References first, then the reply token, then the subject tag."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.core import mail
from django.utils import timezone

from channels_in.email import tokens
from conversations import actions as core
from conversations.models import Contact, Conversation, Entry
from tests.channels_in.test_email_support import SUPPORT, EmailTestCase, build_mail

ANA = "Ana Kovač <ana@firma.hr>"
IVAN = "Ivan Horvat <ivan@firma.hr>"
PETRA = "Petra Novak <petra@firma.hr>"


class FiveMessageThreadTests(EmailTestCase):
    def agent_reply(self, conversation: Conversation, body: str) -> Entry:
        with self.captureOnCommitCallbacks(execute=True):
            entry = core.reply(conversation, self.alice, body, via="email")
        entry.refresh_from_db()
        self.assertEqual(entry.delivery_status, "sent", entry.delivery_error)
        return entry

    def test_a_thread_with_cc_and_forwarded_replies_stays_one_conversation(self):
        # 1. Ana asks, copying her colleague Ivan.
        self.deliver(
            build_mail(
                ANA,
                "Where is my invoice?",
                message_id="<m1@firma.hr>",
                cc=IVAN,
                subject="Invoice for March",
            )
        )
        conversation = Conversation.objects.get()
        # 2. Alice answers; the mail goes out with threading headers.
        ours = self.agent_reply(conversation, "It is on its way.")
        sent = mail.outbox[-1]
        self.assertEqual(sent.extra_headers["In-Reply-To"], "<m1@firma.hr>")
        reply_to = sent.reply_to[0]
        # 3. Ana answers Alice's mail, Outlook style: In-Reply-To only.
        self.deliver(
            build_mail(
                ANA,
                "Thanks, still nothing.",
                message_id="<m3@firma.hr>",
                subject=f"RE: Invoice for March [#{conversation.pk}]",
                in_reply_to=str(ours.provider_id),
                cc=IVAN,
            )
        )
        # 4. Ivan (on CC) replies all, Gmail style: References with the whole chain.
        self.deliver(
            build_mail(
                IVAN,
                "I can't find it either.",
                message_id="<m4@firma.hr>",
                subject="Re: Invoice for March",
                in_reply_to="<m3@firma.hr>",
                references=["<m1@firma.hr>", str(ours.provider_id), "<m3@firma.hr>"],
                cc=ANA,
            )
        )
        # 5. Ana forwards the thread to Petra, who writes to the reply address only.
        self.deliver(
            build_mail(
                PETRA,
                "---------- Forwarded message ---------\nFrom: Ana\n\nPlease help",
                message_id="<m5@firma.hr>",
                subject="Fwd: Invoice for March",
                to=reply_to,
            )
        )
        self.assertEqual(Conversation.objects.count(), 1)
        entries = list(conversation.entries.filter(kind__in=["inbound", "outbound"]))
        self.assertEqual(len(entries), 5)
        self.assertEqual(
            [e.contact.identities.get().value for e in entries if e.kind == "inbound"],
            ["ana@firma.hr", "ana@firma.hr", "ivan@firma.hr", "petra@firma.hr"],
        )
        self.assertEqual(Contact.objects.count(), 3)
        # The agent's next reply threads under the latest customer mail.
        self.agent_reply(conversation, "Resent to all of you.")
        last = mail.outbox[-1]
        self.assertEqual(last.extra_headers["In-Reply-To"], "<m5@firma.hr>")
        references = last.extra_headers["References"].split()
        self.assertEqual(references[0], "<m1@firma.hr>")
        self.assertEqual(
            set(references),
            {
                "<m1@firma.hr>",
                str(ours.provider_id),
                "<m3@firma.hr>",
                "<m4@firma.hr>",
                "<m5@firma.hr>",
            },
        )

    def test_outlook_rewriting_in_reply_to_still_threads_by_references(self):
        self.deliver(build_mail(ANA, "one", message_id="<t1@firma.hr>"))
        first = Conversation.objects.get()
        core.set_status(first, self.alice, "resolved")
        self.deliver(
            build_mail(
                IVAN,
                "two",
                message_id="<t2@firma.hr>",
                in_reply_to="<rewritten@x>",
                references=["<t1@firma.hr>"],
            )
        )
        self.assertEqual(Conversation.objects.count(), 1)
        first.refresh_from_db()
        self.assertEqual(first.status, "open")
        self.assertEqual(first.reopened_count, 1)


class TokenAndTagTests(EmailTestCase):
    def start(self) -> Conversation:
        self.deliver(build_mail(ANA, "Hello", message_id="<s1@firma.hr>", subject="Order 77"))
        return Conversation.objects.get()

    def test_the_reply_token_threads_mail_without_headers(self):
        conversation = self.start()
        address = tokens.reply_address(SUPPORT, conversation.public_id)
        self.assertTrue(address.startswith("support+"))
        self.deliver(build_mail(IVAN, "Me too", message_id="<s2@firma.hr>", to=address))
        self.assertEqual(Conversation.objects.count(), 1)
        self.assertEqual(conversation.entries.filter(kind="inbound").count(), 2)

    def test_a_forged_token_is_ignored(self):
        conversation = self.start()
        forged = f"support+{conversation.public_id.hex}{'0' * 12}@support.example.com"
        self.deliver(build_mail(IVAN, "Let me in", message_id="<s3@firma.hr>", to=forged))
        self.assertEqual(Conversation.objects.count(), 2)

    def test_the_subject_tag_threads_a_participant(self):
        conversation = self.start()
        core.set_status(conversation, self.alice, "resolved")
        self.deliver(
            build_mail(
                ANA,
                "Again",
                message_id="<s4@firma.hr>",
                subject=f"Re: Order 77 [#{conversation.pk}]",
            )
        )
        self.assertEqual(Conversation.objects.count(), 1)

    def test_the_subject_tag_of_a_stranger_opens_a_new_conversation(self):
        conversation = self.start()
        self.deliver(
            build_mail(
                "Mallory <mallory@evil.example>",
                "Give me the data",
                message_id="<s5@evil.example>",
                subject=f"Re: Order 77 [#{conversation.pk}]",
            )
        )
        self.assertEqual(Conversation.objects.count(), 2)
        stranger = Entry.objects.get(provider_id="<s5@evil.example>")
        self.assertNotEqual(stranger.conversation, conversation)

    def test_the_same_subject_from_another_sender_is_another_conversation(self):
        self.start()
        self.deliver(build_mail(IVAN, "Hello", message_id="<s6@firma.hr>", subject="Order 77"))
        self.assertEqual(Conversation.objects.count(), 2)

    def test_a_reply_after_the_reopen_window_starts_a_linked_conversation(self):
        conversation = self.start()
        core.set_status(conversation, self.alice, "resolved")
        later = timezone.now() + timedelta(days=30)
        with time_machine.travel(later):
            self.deliver(
                build_mail(
                    ANA,
                    "Back again",
                    message_id="<s7@firma.hr>",
                    in_reply_to="<s1@firma.hr>",
                    references=["<s1@firma.hr>"],
                )
            )
        newest = Conversation.objects.order_by("-id").first()
        assert newest is not None
        self.assertNotEqual(newest, conversation)
        self.assertEqual(newest.previous, conversation)
