from __future__ import annotations

from datetime import datetime, timedelta
from unittest import mock

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from conversations import actions
from conversations.identities import IdentityRef
from conversations.inbound import InboundMessage
from conversations.models import Conversation, Entry, Notification
from tests.base import HelpdeskTestCase


class InboxTestCase(HelpdeskTestCase):
    def inbound(
        self,
        body: str = "Hello",
        *,
        email: str = "ana@example.com",
        channel: str = "api",
        name: str = "Ana Kovač",
        at: datetime | None = None,
        team: int | None = -1,
        extra: list[IdentityRef] | None = None,
    ) -> Entry:
        msg = InboundMessage(
            inbox_id=self.api_inbox.pk,
            channel=channel,
            identities=[IdentityRef("email", email), *(extra or [])],
            team_id=self.support.pk if team == -1 else team,
            body=body,
            contact_name=name,
            occurred_at=at,
        )
        with self.captureOnCommitCallbacks(execute=True):
            return actions.record_inbound(msg).entry


class ListTests(InboxTestCase):
    def test_it_redirects_anonymous_visitors_to_sign_in(self):
        response = self.client.get("/inbox/")
        self.assertEqual(response.status_code, 302)
        self.assertIn("/login/", response["Location"])

    def test_home_is_the_inbox(self):
        self.client.force_login(self.alice)
        self.assertRedirects(self.client.get("/"), "/inbox/")

    def test_it_lists_visible_conversations_with_preview_and_counters(self):
        self.inbound("Where is my order?")
        self.inbound("Sales question", email="sales@example.com", team=self.sales.pk)
        self.client.force_login(self.alice)
        response = self.client.get("/inbox/")
        self.assertContains(response, "Where is my order?")
        self.assertNotContains(response, "Sales question")
        self.assertEqual(response.context["counters"], {"mine": 0, "unassigned": 1, "all": 1})
        self.client.force_login(self.sam)
        self.assertContains(self.client.get("/inbox/"), "Sales question")

    def test_a_row_shows_contact_channels_preview_labels_priority_and_assignee(self):
        entry = self.inbound("Where is my order?", name="Ana <Kovač>", channel="email")
        self.inbound("<b>Still</b> waiting", channel="chat")
        c = entry.conversation
        actions.set_labels(c, self.alice, ["vip"])
        actions.set_priority(c, self.alice, "urgent")
        actions.assign(c, self.alice, assignee=self.bob)
        self.client.force_login(self.alice)
        response = self.client.get("/inbox/")
        html = response.content.decode()
        self.assertIn(f'data-conversation="{c.pk}"', html)
        self.assertIn(f'href="/inbox/c/{c.pk}/"', html)
        self.assertIn(f'aria-label="Select #{c.pk}"', html)
        self.assertIn("Ana &lt;Kovač&gt;", html)  # escaped, never markup
        self.assertNotIn("<b>Still</b>", html)
        self.assertIn("&lt;b&gt;Still&lt;/b&gt; waiting", html)  # the latest message
        self.assertIn('aria-label="E-mail"', html)  # first channel icon
        self.assertIn('aria-label="Live chat"', html)  # last inbound channel, a second icon
        self.assertIn('title="Waiting for a reply since ', html)
        self.assertIn('<span class="pill prio urgent">Urgent</span>', html)
        self.assertIn('<span class="pill label" style="--lc:', html)
        self.assertIn(">vip</span>", html)
        self.assertIn(self.bob.display_name, html)

    def test_an_empty_list_says_so(self):
        self.client.force_login(self.alice)
        self.assertContains(self.client.get("/inbox/"), "Nothing here. Enjoy the quiet.")

    def test_views_filter_mine_and_unassigned(self):
        first = self.inbound("first", email="a@example.com").conversation
        self.inbound("second", email="b@example.com")
        actions.assign(first, self.alice, assignee=self.alice)
        self.client.force_login(self.alice)
        mine = self.client.get("/inbox/?view=mine")
        self.assertEqual([c.pk for c in mine.context["page"].conversations], [first.pk])
        unassigned = self.client.get("/inbox/?view=unassigned")
        self.assertNotIn(first.pk, [c.pk for c in unassigned.context["page"].conversations])

    def test_keyset_pagination_walks_every_row_once_in_both_orders(self):
        start = timezone.now() - timedelta(days=1)
        for i in range(7):
            self.inbound(f"m{i}", email=f"c{i}@example.com", at=start + timedelta(minutes=i % 3))
        self.client.force_login(self.alice)
        from conversations import listing

        for sort in ("waiting", "newest"):
            q = listing.ListQuery(sort=sort)
            seen: list[int] = []
            while True:
                page = listing.page(self.alice, q, size=3)
                seen += [c.pk for c in page.conversations]
                if not page.next_cursor:
                    break
                q.after = page.next_cursor
            self.assertEqual(len(seen), 7, sort)
            self.assertEqual(len(set(seen)), 7, sort)

    def test_waiting_sort_puts_the_longest_waiting_first(self):
        now = timezone.now()
        old = self.inbound("old", email="old@example.com", at=now - timedelta(hours=5))
        self.inbound("new", email="new@example.com", at=now - timedelta(minutes=5))
        self.client.force_login(self.alice)
        rows = self.client.get("/inbox/").context["page"].conversations
        self.assertEqual(rows[0].pk, old.conversation_id)
        newest = self.client.get("/inbox/?sort=newest").context["page"].conversations
        self.assertEqual(newest[-1].pk, old.conversation_id)

    def test_a_garbled_cursor_is_a_clear_400(self):
        self.client.force_login(self.alice)
        response = self.client.get("/inbox/?after=nonsense")
        self.assertEqual(response.status_code, 400)

    # Long TTLs: under a loaded machine the few seconds of the per-process caches ran
    # out between the warm-up and the measured request.
    @mock.patch("conversations.views.COUNTERS_TTL_SECONDS", 3600)
    @mock.patch("conversations.refdata.TTL_SECONDS", 3600)
    def test_the_list_costs_the_same_queries_for_3_or_30_rows(self):
        for i in range(3):
            self.inbound(f"m{i}", email=f"x{i}@example.com")
        self.client.force_login(self.alice)
        self.client.get("/inbox/")  # warm caches (content types, counters, refdata)
        # session, agent, the agent's teams, the page, its labels (the navigation's
        # tables are conversations.refdata's)
        with self.assertNumQueries(5):
            self.client.get("/inbox/")
        for i in range(3, 30):
            c = self.inbound(f"m{i}", email=f"x{i}@example.com").conversation
            actions.set_labels(c, self.alice, ["vip", "billing"])
            actions.assign(c, self.alice, assignee=self.bob)
        self.client.get("/inbox/")  # new labels: refdata reloads them once
        with self.assertNumQueries(5):
            response = self.client.get("/inbox/")
        self.assertEqual(len(response.context["page"].conversations), 25)

    def test_filters_by_channel_label_status_team_and_inbox(self):
        a = self.inbound("email one", email="e@example.com", channel="email").conversation
        self.inbound("chat one", email="f@example.com", channel="chat")
        actions.set_labels(a, self.alice, ["vip"])
        self.client.force_login(self.sam)

        def ids(query: str) -> list[int]:
            return [c.pk for c in self.client.get("/inbox/?" + query).context["page"].conversations]

        self.assertEqual(ids("channel=email"), [a.pk])
        self.assertEqual(ids("label=vip"), [a.pk])
        self.assertEqual(ids("status=resolved"), [])
        actions.set_status(a, self.alice, "resolved")
        self.assertEqual(ids("status=resolved"), [a.pk])
        self.assertEqual(len(ids(f"team={self.support.pk}")), 1)
        self.assertEqual(len(ids(f"inbox={self.api_inbox.pk}&status=resolved")), 1)

    def test_bulk_actions_assign_label_and_resolve(self):
        c1 = self.inbound("one", email="1@example.com").conversation
        c2 = self.inbound("two", email="2@example.com").conversation
        self.client.force_login(self.alice)
        ids = [c1.pk, c2.pk]
        self.client.post("/inbox/bulk/", {"ids": ids, "action": "assign", "assignee": "me"})
        self.client.post("/inbox/bulk/", {"ids": ids, "action": "label", "label": "refund"})
        self.client.post("/inbox/bulk/", {"ids": ids, "action": "resolve"})
        for c in Conversation.objects.filter(pk__in=ids):
            self.assertEqual(c.assignee, self.alice)
            self.assertEqual(c.status, "resolved")
            self.assertEqual([lab.name for lab in c.labels.all()], ["refund"])

    def test_bulk_ignores_conversations_the_agent_cannot_see(self):
        hidden = self.inbound("secret", email="s@example.com", team=self.sales.pk).conversation
        self.client.force_login(self.alice)
        self.client.post("/inbox/bulk/", {"ids": [hidden.pk], "action": "resolve"})
        hidden.refresh_from_db()
        self.assertEqual(hidden.status, "open")


class ConversationViewTests(InboxTestCase):
    def test_it_shows_the_unified_timeline_across_channels_and_conversations(self):
        now = timezone.now()
        first = self.inbound("by e-mail", channel="email", at=now - timedelta(days=30))
        actions.set_status(first.conversation, self.alice, "resolved", at=now - timedelta(days=29))
        self.inbound("by chat", channel="chat", at=now - timedelta(minutes=3))
        latest = self.inbound("by whatsapp", channel="whatsapp", at=now - timedelta(minutes=1))
        self.assertNotEqual(first.conversation_id, latest.conversation_id)
        self.client.force_login(self.alice)
        response = self.client.get(f"/inbox/c/{latest.conversation_id}/")
        self.assertContains(response, "by e-mail")
        self.assertContains(response, "by chat")
        self.assertContains(response, "by whatsapp")
        self.assertContains(response, 'class="segment other"')  # the earlier one collapses
        self.assertContains(response, "ch-whatsapp")

    def test_the_timeline_shows_attachments_calls_notes_and_failed_deliveries(self):
        from django.core.files.base import ContentFile

        from conversations.models import Attachment

        entry = self.inbound("see the photo")
        c = entry.conversation
        image = Attachment(entry=entry, filename="photo <1>.png", content_type="image/png")
        image.file.save("photo.png", ContentFile(b"png"), save=True)
        document = Attachment(entry=entry, filename="invoice.pdf", content_type="application/pdf")
        document.file.save("invoice.pdf", ContentFile(b"pdf"), save=True)
        Attachment.objects.create(entry=entry, filename="later.mp4", content_type="video/mp4")
        actions.add_note(c, self.alice, "a <note>\nsecond line")
        failed = Entry.objects.create(
            conversation=c,
            contact=c.contact,
            kind="outbound",
            channel="email",
            body="Sorry",
            author=self.alice,
            delivery_status="failed",
            delivery_error="bounced",
        )
        Entry.objects.create(
            conversation=c,
            contact=c.contact,
            kind="inbound",
            channel="phone",
            parameters={
                "status": "completed",
                "duration": 75,
                "recording_url": "https://rec.example.com/1.mp3",
                "transcript": "hi there",
            },
        )
        self.client.force_login(self.alice)
        html = self.client.get(f"/inbox/c/{c.pk}/").content.decode()
        url = image.file.url
        self.assertIn(
            f'<a href="{url}"><img src="{url}" alt="photo &lt;1&gt;.png" loading="lazy"></a>',
            html,
        )
        self.assertIn(f'<a class="file" href="{document.file.url}">invoice.pdf</a>', html)
        self.assertIn('<span class="file">later.mp4</span>', html)
        self.assertIn("a &lt;note&gt;<br>second line", html)
        self.assertIn('<span class="pill note-tag">Private note</span>', html)
        self.assertIn('<span class="derror" data-delivery-error>bounced</span>', html)
        self.assertIn(f'action="/inbox/c/{c.pk}/retry/{failed.public_id}/"', html)
        self.assertIn(
            'class="inline" data-ajax><input type="hidden" name="csrfmiddlewaretoken"', html
        )
        self.assertIn("Incoming call · completed · 1:15", html)
        self.assertIn('<audio controls preload="none" src="https://rec.example.com/1.mp3">', html)
        self.assertIn('<p class="muted small">hi there</p>', html)
        # The live catch-up fragment draws the same entries.
        fragment = self.client.get(f"/inbox/c/{c.pk}/entries/").content.decode()
        self.assertIn(f'id="e-{failed.public_id}"', fragment)
        self.assertIn("Incoming call · completed · 1:15", fragment)

    def test_no_access_is_404(self):
        entry = self.inbound("secret", email="s@example.com", team=self.sales.pk)
        self.client.force_login(self.alice)
        response = self.client.get(f"/inbox/c/{entry.conversation_id}/")
        self.assertEqual(response.status_code, 404)
        response = self.client.post(f"/inbox/c/{entry.conversation_id}/reply/", {"body": "x"})
        self.assertEqual(response.status_code, 404)

    @mock.patch("conversations.refdata.TTL_SECONDS", 3600)
    def test_the_view_costs_the_same_queries_for_a_short_or_long_history(self):
        entry = self.inbound("hello")
        self.client.force_login(self.alice)
        url = f"/inbox/c/{entry.conversation_id}/"
        self.client.get(url)
        with self.assertNumQueries(9):  # no attachments: no attachment query
            self.client.get(url)
        for i in range(20):
            self.inbound(f"more {i}", channel=("email", "chat", "api")[i % 3])
            actions.add_note(entry.conversation, self.bob, f"note {i}")
        with self.assertNumQueries(9):  # no attachments: no attachment query
            self.client.get(url)

    def test_reply_goes_out_on_the_chosen_channel_and_delivery_moves_to_sent(self):
        entry = self.inbound("hello")
        self.client.force_login(self.alice)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                f"/inbox/c/{entry.conversation_id}/reply/", {"body": "On its way", "channel": "api"}
            )
        self.assertEqual(response.status_code, 302)
        reply = Entry.objects.get(kind="outbound")
        self.assertEqual(reply.body, "On its way")
        self.assertEqual(reply.channel, "api")
        self.assertEqual(reply.delivery_status, "sent")
        self.assertEqual(len(self.http.requests), 1)

    def test_the_picker_says_why_a_channel_is_unavailable_and_refuses_it(self):
        entry = self.inbound("hello", channel="email")
        self.client.force_login(self.alice)
        response = self.client.get(f"/inbox/c/{entry.conversation_id}/")
        options = {o.channel: o for o in response.context["options"]}
        self.assertFalse(options["email"].available)
        self.assertIn("cannot send", options["email"].reason)
        response = self.client.post(
            f"/inbox/c/{entry.conversation_id}/reply/",
            {"body": "hi", "channel": "email"},
            HTTP_X_REQUESTED_WITH="fetch",
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("cannot send", response.json()["error"])
        self.assertFalse(Entry.objects.filter(kind="outbound").exists())

    def test_a_failed_reply_shows_its_reason_and_can_be_retried(self):
        import httpx

        entry = self.inbound("hello")
        self.http.responder = lambda r: httpx.Response(410, text="gone")
        self.client.force_login(self.alice)
        url = f"/inbox/c/{entry.conversation_id}/"
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(url + "reply/", {"body": "Hi", "channel": "api"})
        reply = Entry.objects.get(kind="outbound")
        self.assertEqual(reply.delivery_status, "failed")
        page = self.client.get(url)
        self.assertContains(page, "callback answered HTTP 410")
        self.assertContains(page, f"/retry/{reply.public_id}/")
        self.http.responder = lambda r: httpx.Response(200, json={"id": "p-1"})
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(f"{url}retry/{reply.public_id}/")
        reply.refresh_from_db()
        self.assertEqual(reply.delivery_status, "sent")

    def test_actions_assign_status_snooze_priority_labels_note(self):
        conversation = self.inbound("hello").conversation
        self.client.force_login(self.alice)
        url = f"/inbox/c/{conversation.pk}/"
        self.client.post(url + "assign/", {"assignee": str(self.bob.pk)})
        self.client.post(url + "priority/", {"priority": "urgent"})
        self.client.post(url + "labels/", {"labels": "vip, billing"})
        until = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        self.client.post(url + "status/", {"status": "snoozed", "snoozed_until": until})
        self.client.post(url + "note/", {"body": "Checked with @bob"})
        conversation.refresh_from_db()
        self.assertEqual(conversation.assignee, self.bob)
        self.assertEqual(conversation.priority, "urgent")
        self.assertEqual(conversation.status, "snoozed")
        self.assertEqual(sorted(lab.name for lab in conversation.labels.all()), ["billing", "vip"])
        events = set(
            Entry.objects.filter(conversation=conversation, kind="event").values_list(
                "event", flat=True
            )
        )
        self.assertTrue(
            {"assigned", "priority_changed", "labels_changed", "status_changed"} <= events
        )
        # bob got a bell for the assignment and for the mention
        self.assertEqual(
            sorted(Notification.objects.filter(agent=self.bob).values_list("kind", flat=True)),
            ["assigned", "mention"],
        )
        page = self.client.get(url)
        self.assertContains(page, "Checked with @bob")
        self.assertContains(page, "assigned Bob")

    def test_snooze_without_a_time_is_refused(self):
        conversation = self.inbound("hello").conversation
        self.client.force_login(self.alice)
        response = self.client.post(
            f"/inbox/c/{conversation.pk}/status/",
            {"status": "snoozed"},
            HTTP_X_REQUESTED_WITH="fetch",
        )
        self.assertEqual(response.status_code, 400)

    def test_entries_fragment_returns_only_newer_entries(self):
        first = self.inbound("one")
        second = self.inbound("two")
        self.client.force_login(self.alice)
        response = self.client.get(
            f"/inbox/c/{first.conversation_id}/entries/?after={first.public_id}"
        )
        self.assertNotContains(response, f'id="e-{first.public_id}"')
        self.assertContains(response, f'id="e-{second.public_id}"')


class CallButtonTests(InboxTestCase):
    def test_a_call_button_shows_with_a_phone_and_a_twilio_inbox(self):
        from channels_in import actions as channel_actions

        entry = self.inbound("call me", extra=[IdentityRef("phone", "+385911234567")])
        self.client.force_login(self.alice)
        url = f"/inbox/c/{entry.conversation_id}/"
        self.assertNotContains(self.client.get(url), "data-call")
        channel_actions.create_inbox("twilio", "phones", name="Phones")
        call_url = reverse("channels_in:twilio_call", args=[entry.conversation_id])
        self.assertContains(self.client.get(url), f'action="{call_url}"')

    def test_a_call_entry_shows_its_status_duration_and_recording(self):
        entry = self.inbound("hello")
        Entry.objects.filter(pk=entry.pk).update(
            channel="phone",
            body="",
            parameters={"status": "completed", "duration": 125, "recording_url": "/rec.mp3"},
        )
        self.client.force_login(self.alice)
        page = self.client.get(f"/inbox/c/{entry.conversation_id}/")
        self.assertContains(page, "Incoming call")
        self.assertContains(page, "2:05")
        self.assertContains(page, 'src="/rec.mp3"')


class AuthPageTests(InboxTestCase):
    def test_password_reset_sends_a_link_that_sets_a_new_password(self):
        response = self.client.post(reverse("password_reset"), {"email": "alice@example.org"})
        self.assertRedirects(response, reverse("password_reset_done"))
        self.assertEqual(len(mail.outbox), 1)
        link = next(
            line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line
        ).strip()
        path = link[link.index("/password-reset/") :]
        response = self.client.get(path, follow=True)
        self.assertContains(response, "Choose a new password")
        response = self.client.post(
            response.redirect_chain[-1][0],
            {
                "new_password1": "a-much-better-secret-42",
                "new_password2": "a-much-better-secret-42",
            },
        )
        self.assertRedirects(response, reverse("password_reset_complete"))
        self.assertTrue(
            self.client.login(username="alice@example.org", password="a-much-better-secret-42")
        )

    def test_every_page_renders_for_an_agent(self):
        entry = self.inbound("hello")
        self.client.force_login(self.alice)
        for url in (
            "/inbox/",
            "/inbox/?view=mine&sort=newest",
            f"/inbox/c/{entry.conversation_id}/",
            "/inbox/search/?q=hello",
            "/inbox/notifications/",
            f"/inbox/contacts/{entry.contact_id}/merge/",
            reverse("password_reset"),
        ):
            self.assertEqual(self.client.get(url).status_code, 200, url)


class CannedResponseTests(InboxTestCase):
    def test_the_composer_gets_canned_responses_with_variables_filled_in(self):
        from conversations.models import CannedResponse

        CannedResponse.objects.create(
            shortcut="hi",
            body=(
                "Hi {{ contact_first_name }}, {{ agent_name }} here about"
                " #{{ conversation_number }}. {{ typo }}"
            ),
        )
        entry = self.inbound("hello")
        self.client.force_login(self.alice)
        response = self.client.get(f"/inbox/c/{entry.conversation_id}/")
        [canned] = response.context["canned"]
        self.assertEqual(
            canned["body"], f"Hi Ana, Alice here about #{entry.conversation_id}. {{{{ typo }}}}"
        )
        self.assertContains(response, 'id="canned-data"')

    def test_admins_manage_canned_responses_in_the_admin(self):
        admin = self.sam
        admin.is_staff = True
        admin.is_superuser = True
        admin.save()
        self.client.force_login(admin)
        response = self.client.get("/admin/conversations/cannedresponse/add/")
        self.assertEqual(response.status_code, 200)
