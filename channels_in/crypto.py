"""Encryption at rest for inbox secrets (tokens, app secrets, passwords)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(("helpdesk-inbox-secrets:" + key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "cannot decrypt an inbox secret: SECRET_KEY or FIELD_ENCRYPTION_KEY changed"
        ) from exc
