"""Test overlay: eager Celery, in-memory channel layer, MD5 hasher, locmem e-mail.

Integration tests (tests/integration/) switch back to the real Redis layer and a
real Celery worker themselves. DATABASE_URL / REDIS_URL choose PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from helpdesk.settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="helpdesk-test-media-"))
# A zone far from UTC makes time zone slips show up (as wagtail's tests do).
TIME_ZONE = "Asia/Tokyo"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
LOGGING = {"version": 1, "disable_existing_loggers": False}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, one per test process: browser tests serve pages from another thread,
    # and parallel runs must not share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"helpdesk-test-{os.getpid()}.sqlite3")
    }
