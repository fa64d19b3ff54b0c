from __future__ import annotations

from conversations import actions
from conversations.identities import normalize
from conversations.inbound import InboundMessage
from conversations.models import Notification
from tests.base import HelpdeskTestCase


class AssignTests(HelpdeskTestCase):
    def test_assigning_rings_the_assignees_bell_once_whoever_assigns(self):
        with self.captureOnCommitCallbacks(execute=True):
            recorded = actions.record_inbound(
                InboundMessage(
                    inbox_id=self.api_inbox.pk,
                    channel="api",
                    identities=[normalize("email", "ana@example.com")],
                    body="hi",
                )
            )
            actions.assign(recorded.entry.conversation, self.alice, assignee=self.bob)
            actions.assign(recorded.entry.conversation, None, assignee=self.alice)
        bell = Notification.objects.order_by("id")
        self.assertEqual(
            [(n.agent, n.kind) for n in bell],
            [(self.bob, "assigned"), (self.alice, "assigned")],
        )
        self.assertIn("Alice assigned you", bell[0].text)
        self.assertIn("You were assigned", bell[1].text)

    def test_assigning_yourself_rings_nothing(self):
        with self.captureOnCommitCallbacks(execute=True):
            recorded = actions.record_inbound(
                InboundMessage(
                    inbox_id=self.api_inbox.pk,
                    channel="api",
                    identities=[normalize("email", "ana@example.com")],
                    body="hi",
                )
            )
            actions.assign(recorded.entry.conversation, self.alice, assignee=self.alice)
        self.assertFalse(Notification.objects.exists())
