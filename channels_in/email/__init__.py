"""The e-mail channel: parsing, threading, loops, bounces, IMAP, sending, anymail.

Every door (ingest_email, IMAP, anymail webhooks) hands raw RFC 5322 bytes to
ingest.store_raw(), and the adapter's parse() turns the stored bytes into the
core's InboundMessage through parser.parse_mail().
"""

from __future__ import annotations
