"""Twilio error codes an agent may see, in words (https://www.twilio.com/docs/api/errors)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

REASONS: dict[int, Promise] = {
    20003: _("Twilio refused the inbox's credentials (check the account SID and auth token)."),
    21211: _("The number is not a valid phone number."),
    21408: _("This Twilio account may not send to that region."),
    21606: _("The inbox's number cannot send this kind of message."),
    21610: _("The customer has unsubscribed (replied STOP) from this number."),
    21612: _("Twilio cannot route a message between these two numbers."),
    21614: _("The number is not a mobile number and cannot receive SMS."),
    30001: _("Twilio's queue overflowed; the message was not sent."),
    30002: _("The Twilio account is suspended."),
    30003: _("The customer's phone is unreachable (off or out of coverage)."),
    30004: _("The message was blocked (the customer or the carrier blocks it)."),
    30005: _("The number is unknown or no longer in service."),
    30006: _("The number is a landline or its carrier cannot receive messages."),
    30007: _("The carrier filtered the message as spam."),
    30008: _("The carrier failed to deliver the message for an unknown reason."),
    30034: _("The message came from an unregistered US A2P 10DLC number."),
    63003: _("The customer's WhatsApp address could not be found."),
    63016: _(
        "More than 24 hours have passed since the customer last wrote on WhatsApp: "
        "only an approved template can be sent."
    ),
    63024: _("The recipient is not a valid WhatsApp user."),
    63032: _("WhatsApp does not deliver to this user because of their settings."),
}

# Errors that retrying cannot fix.
PERMANENT_CODES = frozenset(REASONS) - {30001, 30008}


def reason(code: int | str | None, fallback: str = "") -> str:
    """A sentence for an agent; unknown codes keep their number so they can be looked up."""
    try:
        number = int(code) if code not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        return fallback or gettext("Twilio reported a failure without an error code.")
    text = REASONS.get(number)
    if text is not None:
        return f"{text} (Twilio {number})"
    detail = f": {fallback}" if fallback else ""
    return gettext("Twilio error %(code)s%(detail)s") % {"code": number, "detail": detail}
