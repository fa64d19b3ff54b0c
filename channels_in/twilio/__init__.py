"""Twilio: SMS, MMS, WhatsApp and voice through one inbox (kind `twilio`).

The adapter is channels_in/adapters/twilio.py; this package holds what it needs
beyond the three verbs: the REST client on our HTTP boundary, error reasons, the
voice TwiML, calls we place, media fetching and the webhook views.

Setting one up:

    python manage.py inbox add twilio --slug phone --team Support \
        --set account_sid=AC... --set auth_token=... \
        --set phone_number=+38515550100 --set whatsapp_number=+38515550199 \
        --set menu=1=Support,2=Sales --set voicemail_after_seconds=20 \
        --set whatsapp_templates=order_update=HX...

then, in the Twilio console, for the number (PUBLIC_URL is where Twilio reaches us,
and what signatures are checked against):
    A message comes in      POST {PUBLIC_URL}/hooks/twilio/<slug>/messages
    A call comes in         POST {PUBLIC_URL}/hooks/twilio/<slug>/voice
    Call status changes     POST {PUBLIC_URL}/hooks/twilio/<slug>/call-status
Outbound messages and calls set their own status callbacks when PUBLIC_URL is set.
Optional keys: greeting, menu_prompt, voicemail_greeting, hold_music_url, language
(e.g. hr-HR), auth_token_secondary (accepted too, for token rotation).
"""
