"""One settings module, configured from the environment (README lists every variable).

With no environment at all this runs the embedded default: SQLite in WAL mode and
an embedded Redis, both under var/.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from helpdesk.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    # The embedded default keeps a generated key under var/ so that sessions and
    # encrypted inbox secrets survive restarts without any configuration.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_secret("SECRET_KEY") or _embedded_secret_key()
# Inbox secrets are encrypted with this key; defaults to one derived from SECRET_KEY.
FIELD_ENCRYPTION_KEY = env_secret("FIELD_ENCRYPTION_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The address providers call, e.g. https://help.example.com; webhook signatures
# (Twilio signs the URL) are checked against it rather than the Host header.
PUBLIC_URL = env_str("PUBLIC_URL").rstrip("/")
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "helpdesk",
    "conversations",
    "channels_in",
    "kpi",
    "webhooks",
    "widget",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"
AUTH_USER_MODEL = "helpdesk.Agent"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A bounded psycopg pool per process. Under ASGI every request may run in a
        # thread of its own, and persistent per-thread connections (CONN_MAX_AGE)
        # exhausted PostgreSQL's max_connections under load; the pool caps them.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("DATABASE_POOL_SIZE", 10),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "helpdesk.sqlite3"),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while the worker writes; IMMEDIATE takes the
        # write lock at BEGIN so two writers queue instead of failing to upgrade.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache --------------------------------------
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6380)
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: measured 3.1 ms p99 fan-out vs 11-44 ms for the list-based
        # RedisChannelLayer on these machines (ARCHITECTURE.md).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
CACHES = {
    "default": {
        # One Redis client per process, not one per websocket (helpdesk/cache.py).
        "BACKEND": "helpdesk.cache.SharedRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"max_connections": env_int("REDIS_MAX_CONNECTIONS", 500)},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_POOL_LIMIT = 50
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran, so a worker that dies mid-task leaves it
# for another; every task is therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "helpdesk.heartbeat", "schedule": 30.0},
    "wake-snoozed-conversations": {"task": "conversations.wake_snoozed", "schedule": 60.0},
    "sweep-inbound-and-stale-sends": {"task": "channels_in.sweep", "schedule": 60.0},
    "sweep-webhook-deliveries": {"task": "webhooks.sweep", "schedule": 300.0},
}
CELERY_TIMEZONE = "UTC"

# --- Time -------------------------------------------------------------------------
USE_TZ = True
TIME_ZONE = "UTC"
# The workspace zone: KPI periods and business hours are evaluated in it.
WORKSPACE_TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("hr", "Hrvatski")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Files --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing one
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
WHITENOISE_USE_FINDERS = True
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024)
ATTACHMENT_BLOCKED_TYPES = env_list(
    "ATTACHMENT_BLOCKED_TYPES",
    "application/x-msdownload,application/x-sh,application/x-executable,text/html",
)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("WEBHOOK_MAX_BYTES", 10 * 1024 * 1024)

# --- E-mail -------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "helpdesk@localhost")

# --- Conversations ------------------------------------------------------------------
# A customer message to a resolved conversation reopens it within this window;
# after it, a new conversation starts (linked to the old one).
REOPEN_WINDOW_HOURS = env_int("REOPEN_WINDOW_HOURS", 168)
# Region for phone numbers written without a country code (ISO 3166, e.g. "HR").
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION") or None
OUTBOUND_MAX_ATTEMPTS = env_int("OUTBOUND_MAX_ATTEMPTS", 5)
INBOUND_MAX_ATTEMPTS = env_int("INBOUND_MAX_ATTEMPTS", 5)
# Received webhook events are processed up to this many per transaction.
INBOUND_BATCH_SIZE = env_int("INBOUND_BATCH_SIZE", 100)
# Threads per web process serving HTTP requests (helpdesk/asgi.py); each may hold one
# pooled database connection, so keep it at or below DATABASE_POOL_SIZE.
WEB_THREADS = env_int("WEB_THREADS", 8)
# One drain task works this long before handing over to a fresh task.
INBOUND_DRAIN_SECONDS = 10
# How long "a drain is requested" is remembered if the task never starts.
INBOUND_DRAIN_FLAG_SECONDS = 30
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
WORKER_HEARTBEAT_MAX_AGE = env_int("WORKER_HEARTBEAT_MAX_AGE", 120)

# --- API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "helpdesk.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "helpdesk.permissions.TokenScope",
    ],
    "DEFAULT_SCHEMA_CLASS": "helpdesk.api_schema.HelpdeskAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "helpdesk.pagination.StableCursorPagination",
    "EXCEPTION_HANDLER": "helpdesk.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_RATE_ANON", "60/min"),
        "user": env_str("API_RATE_USER", "1200/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- REST API and webhooks ------------------------------------------------------------
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": (
            "The help desk's REST API. Authenticate with a personal token "
            "(`Authorization: Bearer <token>`, created with `manage.py api_token create`) "
            "or the browser session. Errors always look like "
            '`{"error": {"code": ..., "message": ..., "fields": {...}}}`.'
        ),
        "COMPONENT_SPLIT_REQUEST": True,
        # Redoc and Swagger UI assets served from the installed sidecar: no CDN needed.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "SCHEMA_PATH_PREFIX": "/api/v1",
        "ENUM_NAME_OVERRIDES": {
            "ConversationStatusEnum": "conversations.models.Conversation.Status",
            "ChannelEnum": "conversations.models.Channel",
            "IdentityKindEnum": "conversations.models.IdentityKind",
            "DeliveryStatusEnum": "conversations.models.Entry.Delivery",
            "PriorityEnum": "conversations.models.Conversation.Priority",
        },
    }
)
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 200)
# Outbound webhooks: each delivery is tried this many times (with exponential
# backoff, WEBHOOK_BACKOFF_SECONDS * 2**n) before it counts as failed; a
# subscription is disabled after this many consecutive failed deliveries.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 3)
WEBHOOK_BACKOFF_SECONDS = env_int("WEBHOOK_BACKOFF_SECONDS", 30)
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 3)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)

# --- live chat widget ---------------------------------------------------------------
# Longest visitor message, in characters; longer ones are refused with an error.
WIDGET_MAX_MESSAGE_CHARS = env_int("WIDGET_MAX_MESSAGE_CHARS", 5000)
# Messages (and uploads) per minute: per visitor, and per client IP across visitors.
WIDGET_VISITOR_RATE = env_int("WIDGET_VISITOR_RATE", 30)
WIDGET_IP_RATE = env_int("WIDGET_IP_RATE", 300)
# New widget websockets per minute per client IP.
WIDGET_CONNECT_RATE = env_int("WIDGET_CONNECT_RATE", 120)
WIDGET_UPLOAD_MAX_BYTES = env_int("WIDGET_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
WIDGET_UPLOAD_TYPES = env_list(
    "WIDGET_UPLOAD_TYPES",
    "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/csv,"
    "application/zip,application/msword,"
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
WIDGET_TOKEN_MAX_AGE_DAYS = env_int("WIDGET_TOKEN_MAX_AGE_DAYS", 365)
# Seconds a widget has to say hello after connecting.
WIDGET_HELLO_TIMEOUT = env_int("WIDGET_HELLO_TIMEOUT", 10)
# Run the widget's database work on one thread per process (True) or a pool (False).
WIDGET_DB_THREAD_SENSITIVE = env_bool("WIDGET_DB_THREAD_SENSITIVE", False)

# --- Meta and Telegram --------------------------------------------------------------
# Graph API for WhatsApp Cloud, Messenger and Instagram (an inbox may set `graph_url`,
# e.g. https://graph.instagram.com for Instagram Login apps).
META_GRAPH_URL = env_str("META_GRAPH_URL", "https://graph.facebook.com").rstrip("/")
META_GRAPH_VERSION = env_str("META_GRAPH_VERSION", "v25.0")
META_HTTP_TIMEOUT = env_int("META_HTTP_TIMEOUT", 10)
TELEGRAM_API_URL = env_str("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
TELEGRAM_HTTP_TIMEOUT = env_int("TELEGRAM_HTTP_TIMEOUT", 10)

# --- KPIs and surveys ---------------------------------------------------------------
# FCR: a new conversation of the same contact within this window after the
# resolution means it was not resolved at first contact (KPI.md).
KPI_REPEAT_WINDOW_DAYS = env_int("KPI_REPEAT_WINDOW_DAYS", 7)
# NPS is asked at most once per contact in this many days.
KPI_NPS_INTERVAL_DAYS = env_int("KPI_NPS_INTERVAL_DAYS", 90)
# Surveys on resolution; the e-mailed survey link (and every survey) expires after this.
KPI_SURVEYS_ENABLED = env_bool("KPI_SURVEYS_ENABLED", True)
KPI_SURVEY_MAX_AGE_DAYS = env_int("KPI_SURVEY_MAX_AGE_DAYS", 14)
CELERY_BEAT_SCHEDULE["kpi-refresh"] = {"task": "kpi.refresh", "schedule": 60.0}

# --- e-mail -------------------------------------------------------------------------
# Poll every email inbox with an imap_host this often (seconds), from Celery beat.
EMAIL_IMAP_POLL_SECONDS = env_int("EMAIL_IMAP_POLL_SECONDS", 60)
EMAIL_IMAP_TIMEOUT = env_int("EMAIL_IMAP_TIMEOUT", 30)
# Messages fetched per poll and inbox; the rest wait for the next poll.
EMAIL_IMAP_BATCH = env_int("EMAIL_IMAP_BATCH", 200)
# At most this many automatic mails (acknowledgements, surveys) per recipient per hour.
EMAIL_AUTO_REPLY_LIMIT_PER_HOUR = env_int("EMAIL_AUTO_REPLY_LIMIT_PER_HOUR", 3)
CELERY_BEAT_SCHEDULE["poll-imap"] = {
    "task": "channels_in.poll_imap",
    "schedule": float(EMAIL_IMAP_POLL_SECONDS),
}
# django-anymail: ESP backends (EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend)
# and inbound/tracking webhooks under /hooks/anymail/<esp>/. Webhooks without
# ANYMAIL_WEBHOOK_SECRET are refused (channels_in/email/receivers.py).
ANYMAIL = {
    key: value
    for key, value in {
        "WEBHOOK_SECRET": env_secret("ANYMAIL_WEBHOOK_SECRET"),
        "MAILGUN_API_KEY": env_secret("MAILGUN_API_KEY"),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env_secret("MAILGUN_WEBHOOK_SIGNING_KEY"),
        "MAILGUN_SENDER_DOMAIN": env_str("MAILGUN_SENDER_DOMAIN"),
        "POSTMARK_SERVER_TOKEN": env_secret("POSTMARK_SERVER_TOKEN"),
        "SENDGRID_API_KEY": env_secret("SENDGRID_API_KEY"),
        "BREVO_API_KEY": env_secret("BREVO_API_KEY"),
        "MAILERSEND_API_TOKEN": env_secret("MAILERSEND_API_TOKEN"),
        "MAILERSEND_INBOUND_SECRET": env_secret("MAILERSEND_INBOUND_SECRET"),
        "MAILERSEND_SIGNING_SECRET": env_secret("MAILERSEND_SIGNING_SECRET"),
        "RESEND_API_KEY": env_secret("RESEND_API_KEY"),
        "RESEND_INBOUND_SECRET": env_secret("RESEND_INBOUND_SECRET"),
        "RESEND_SIGNING_SECRET": env_secret("RESEND_SIGNING_SECRET"),
        "MANDRILL_API_KEY": env_secret("MANDRILL_API_KEY"),
        "MANDRILL_WEBHOOK_KEY": env_secret("MANDRILL_WEBHOOK_KEY"),
        "POSTAL_API_KEY": env_secret("POSTAL_API_KEY"),
        "POSTAL_WEBHOOK_KEY": env_secret("POSTAL_WEBHOOK_KEY"),
        "SPARKPOST_API_KEY": env_secret("SPARKPOST_API_KEY"),
    }.items()
    if value
}
INSTALLED_APPS += ["anymail"]
