"""Twilio: SMS, MMS, WhatsApp and voice through one inbox (kind `twilio`).

The adapter is channels_in/adapters/twilio.py; this package holds what it needs
beyond the three verbs: the REST client on our HTTP boundary, error reasons, the
voice TwiML, calls we place, media fetching and the webhook views.
"""
