"""Every text the widget shows, translated on the server in the inbox's language.

The widget's JavaScript has no strings of its own: the loader bakes this dict in.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


def widget_strings() -> dict[str, str]:
    return {
        "open": _("Chat with us"),
        "close": _("Close chat"),
        "greeting": _("Hi there! How can we help you today?"),
        "online": _("We typically reply in a few minutes"),
        "offline": _("We're away right now. Leave your e-mail and we'll reply there."),
        "offlineShort": _("We'll reply by e-mail"),
        "placeholder": _("Write a message…"),
        "send": _("Send"),
        "attach": _("Attach a file"),
        "typing": _("%(name)s is typing…"),
        "someone": _("Someone"),
        "you": _("You"),
        "seen": _("Seen"),
        "sending": _("Sending…"),
        "failed": _("Not sent. Tap to retry."),
        "reconnecting": _("Reconnecting…"),
        "prechatTitle": _("Before we start"),
        "prechatIntro": _("Tell us a little about you so we can help faster."),
        "start": _("Start chat"),
        "emailLabel": _("Your e-mail"),
        "emailSave": _("Notify me"),
        "emailSaved": _("Thanks! We'll reply to %(email)s."),
        "csatTitle": _("How did we do?"),
        "csatComment": _("Anything you'd like to add? (optional)"),
        "csatSend": _("Send rating"),
        "csatThanks": _("Thank you for your feedback!"),
        "resolved": _("This conversation was marked as resolved."),
        "tooLong": _("This message is too long: the limit is %(limit)s characters."),
        "tooLarge": _("This file is too large: the limit is %(limit)s MB."),
        "badType": _("Files of this type can't be sent here."),
        "uploadFailed": _("The file could not be sent."),
        "required": _("required"),
        "poweredBy": _("Powered by Helpdesk"),
        "agent": _("Support"),
    }


def field_label(name: str) -> str:
    labels = {"name": _("Name"), "email": _("E-mail"), "phone": _("Phone")}
    return str(labels.get(name) or name.replace("_", " ").capitalize())
