"""Settings for the VCC deal intake, read from the environment.

Every knob is an environment variable (README: the table); defaults are safe for production
(DEBUG off, secure cookies). With DATABASE_URL / CELERY_BROKER_URL unset they name bin/run's
embedded PostgreSQL and Redis (vcc/engines/), on unix sockets under var/dev/.
"""

import json
import zoneinfo
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from vcc import engines
from vcc.queues import BACKLOG_QUEUE, CONTROL_QUEUE, SERVED_IN_ORDER

BASE_DIR = Path(__file__).resolve().parent.parent
DOT_ENV_FILE = BASE_DIR / "var" / ".env"

env = environ.Env()
# bin/run writes var/.env (DEBUG on, a random secret key) on a developer's first run; real
# environment variables always win over it. Production and the tests don't read it.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and DOT_ENV_FILE.is_file():
    env.read_env(DOT_ENV_FILE)

# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off"
            " (bin/run writes one to var/.env for local use)."
        )
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us, not a CDN
    "django_celery_beat",
    "deals",
    "hubspot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vcc.urls"
WSGI_APPLICATION = "vcc.wsgi.application"

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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/queue/"

# ------------------------------------------------------------------------------
# Database
# ------------------------------------------------------------------------------
# An empty variable counts as unset, so `DATABASE_URL= bin/run` means "the embedded default".
DATABASE_URL = env.str("DATABASE_URL", default="") or engines.DEV.database_url
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://...).")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Short queries only: PostgreSQL's JIT compiles any plan it thinks costly (a queue search's
# fallback branch, never run) for far longer than the query runs.
DATABASES["default"]["OPTIONS"] = {
    **DATABASES["default"].get("OPTIONS", {}),
    "options": "-c jit=off",
}

# ------------------------------------------------------------------------------
# Static files (served by WhiteNoise, from the project itself; nothing from a CDN)
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "vcc.storage.StaticFilesStorage"
    },
}

# ------------------------------------------------------------------------------
# Security (on unless DEBUG; TLS is expected to end at a proxy in front of gunicorn)
# ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # health checks speak plain HTTP
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("DJANGO_SILENCED_SYSTEM_CHECKS", default=[])

# ------------------------------------------------------------------------------
# Django REST framework and OpenAPI
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API client is told 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Looked up on every request: a revoked token, an ended session or a deactivated
        # user is refused at once (a per-process cache of them was measured and dropped).
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Service errors (vcc.errors) become the documented error body with their HTTP status.
    "EXCEPTION_HANDLER": "vcc.api.exception_handler",
    # JSON bodies only (the import view adds multipart for its file): any other body is a
    # documented 415, not a guess at a form.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VCC deal intake API",
    "DESCRIPTION": "Deals checked in upstream in HubSpot, taken through the pipeline.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DealStatusEnum": "deals.models.Deal.Status",
        "RunStatusEnum": "deals.models.PipelineRun.Status",
        "StageEnum": "deals.models.Stage",
        "PassTriggerEnum": "deals.models.PipelinePass.Trigger",
        "SyncRunStatusEnum": "hubspot.models.SyncRun.Status",
        "SyncRunTriggerEnum": "hubspot.models.SyncRun.Trigger",
    },
}

# ------------------------------------------------------------------------------
# Celery
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or engines.DEV.broker_url
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must name a Redis server (redis://...).")
# Redis redelivers an unacked task after this many seconds; it must outlast the longest
# task, else a healthy long task would be delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Three queues (vcc/queues.py), consumed by every worker unless told otherwise (`-Q`), in
# this order; a worker whose `-Q` lists them in another order refuses to start.
CELERY_TASK_QUEUES = [Queue(name) for name in SERVED_IN_ORDER]
# Redis answers a multi-queue BRPOP from the first non-empty key: "priority" keeps our
# order, where kombu's default ("round_robin") rotates it after every message.
CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] = "priority"
CELERY_TASK_DEFAULT_QUEUE = BACKLOG_QUEUE
CELERY_TASK_ROUTES = {
    "hubspot.tasks.*": {"queue": CONTROL_QUEUE},
    "deals.tasks.sweep_stuck_deals": {"queue": CONTROL_QUEUE},
    "deals.tasks.enqueue_deals": {"queue": CONTROL_QUEUE},
    "deals.tasks.fold_deal_counts": {"queue": CONTROL_QUEUE},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # state lives in our tables, not in a result backend
CELERY_TASK_ACKS_LATE = True  # a task is removed from the queue only once it has finished
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...and requeued when its worker process dies
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a busy worker does not sit on queued deals
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=330)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it, and a new PostgreSQL backend per deal costs more than the deal itself. Reused
# connections still close when broken or older than CONN_MAX_AGE (see vcc/celery.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_SEND_TASK_EVENTS = False  # a broker publish each; flower turns them on itself
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Installed into django-celery-beat's tables when beat starts (interval from settings; staff
# may pause a task in the admin). Each app adds its own entries below.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# ------------------------------------------------------------------------------
# Pipeline
# ------------------------------------------------------------------------------
# Attempts per stage for transient errors (a RetryableStageError, a lost DB connection).
PIPELINE_MAX_ATTEMPTS = env.int("PIPELINE_MAX_ATTEMPTS", default=3)
PIPELINE_RETRY_BACKOFF_SECONDS = env.float("PIPELINE_RETRY_BACKOFF_SECONDS", default=2.0)
# Deals left pending or running, untouched this long, are enqueued again by the sweeper.
PIPELINE_STUCK_AFTER_SECONDS = env.int("PIPELINE_STUCK_AFTER_SECONDS", default=600)
# A stage whose worker died this many times in a row fails the deal instead of looping.
PIPELINE_MAX_LOST_WORKERS = env.int("PIPELINE_MAX_LOST_WORKERS", default=3)
# A fix in HubSpot re-runs a failed deal from the stage that failed; with this on, a change
# to a done deal runs it again from intake too.
PIPELINE_RERUN_DONE_ON_CHANGE = env.bool("PIPELINE_RERUN_DONE_ON_CHANGE", default=False)
# Bulk actions feed the operator lane this many deals at a time: an operator's own click
# waits behind at most one page of them.
PIPELINE_OPERATOR_PAGE_SIZE = env.int("PIPELINE_OPERATOR_PAGE_SIZE", default=50)
# A queue page built for one poller is served again to the others asking for the same ETag
# for this long (per process); running deals' durations are still written fresh. 0: off.
QUEUE_PAGE_REUSE_SECONDS = env.float("QUEUE_PAGE_REUSE_SECONDS", default=10.0)
# Stub stages take this long, so a demo shows deals moving; 0 in production.
PIPELINE_DEMO_STAGE_SECONDS = env.float("PIPELINE_DEMO_STAGE_SECONDS", default=0.0)
PIPELINE_SWEEP_INTERVAL_SECONDS = env.float("PIPELINE_SWEEP_INTERVAL_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["deals-sweep-stuck"] = {
    "task": "deals.tasks.sweep_stuck_deals",
    "schedule": PIPELINE_SWEEP_INTERVAL_SECONDS,
    # A tick no worker ran before the next one is due is dropped, not piled up.
    "options": {"expires": PIPELINE_SWEEP_INTERVAL_SECONDS},
}
# The deal count changes the triggers append are folded into the counters this often (a
# counts read that finds many folds them too): reading the counts stays a sum of few rows.
CELERY_BEAT_SCHEDULE["deals-fold-counts"] = {
    "task": "deals.tasks.fold_deal_counts",
    "schedule": 30.0,
    "options": {"expires": 30.0},
}

# ------------------------------------------------------------------------------
# HubSpot
# ------------------------------------------------------------------------------
# Secret: never logged, echoed, or shown in the admin, errors or reprs.
HUBSPOT_ACCESS_TOKEN = env.str("HUBSPOT_ACCESS_TOKEN", default="")
HUBSPOT_BASE_URL = env.str("HUBSPOT_BASE_URL", default="https://api.hubapi.com")
# HubSpot's date-versioned API (/crm/objects/{version}/deals/...); the numbered /crm/v3
# paths stop being supported in September 2027. Versions live at least 18 months.
HUBSPOT_API_VERSIONS = ("2026-09", "2026-03")
HUBSPOT_API_VERSION = env.str("HUBSPOT_API_VERSION", default="2026-09")
if HUBSPOT_API_VERSION not in HUBSPOT_API_VERSIONS:
    raise ImproperlyConfigured(
        f"HUBSPOT_API_VERSION must be one of {', '.join(HUBSPOT_API_VERSIONS)}, "
        f"not {HUBSPOT_API_VERSION!r}."
    )
HUBSPOT_CHECKED_IN_PROPERTY = env.str("HUBSPOT_CHECKED_IN_PROPERTY", default="checked_in_at")
HUBSPOT_POLL_INTERVAL_MINUTES = env.int("HUBSPOT_POLL_INTERVAL_MINUTES", default=5)
HUBSPOT_BOOTSTRAP_DAYS = env.int("HUBSPOT_BOOTSTRAP_DAYS", default=30)
# The daily re-read reads deals checked in from this long before the newest one we have.
HUBSPOT_LOOKBACK_DAYS = env.int("HUBSPOT_LOOKBACK_DAYS", default=2)
# A poll re-reads changes this far back before the last poll began: search's index lag
# ("a few moments") and clock skew fit well inside it.
HUBSPOT_POLL_OVERLAP_MINUTES = env.int("HUBSPOT_POLL_OVERLAP_MINUTES", default=10)
HUBSPOT_SEARCH_RPS = env.float("HUBSPOT_SEARCH_RPS", default=4.0)
HUBSPOT_TIMEOUT_SECONDS = env.float("HUBSPOT_TIMEOUT_SECONDS", default=30.0)
# A sync silent this long (no page written) has lost its worker; its lock is freed.
HUBSPOT_SYNC_LOCK_TTL_SECONDS = env.int("HUBSPOT_SYNC_LOCK_TTL_SECONDS", default=600)
HUBSPOT_SYNC_TIME_LIMIT_SECONDS = env.int("HUBSPOT_SYNC_TIME_LIMIT_SECONDS", default=3600)
HUBSPOT_SYNC_RUN_RETENTION_DAYS = env.int("HUBSPOT_SYNC_RUN_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["hubspot-poll"] = {
    "task": "hubspot.tasks.poll_hubspot",
    "schedule": timedelta(minutes=HUBSPOT_POLL_INTERVAL_MINUTES),
    "options": {"expires": HUBSPOT_POLL_INTERVAL_MINUTES * 60},
}
CELERY_BEAT_SCHEDULE["hubspot-reread"] = {
    # The safety net under the polls: every deal checked in within the lookback window.
    "task": "hubspot.tasks.reread_hubspot",
    "schedule": crontab(hour="2", minute="41"),
}
CELERY_BEAT_SCHEDULE["hubspot-delete-old-sync-runs"] = {
    "task": "hubspot.tasks.delete_old_sync_runs",
    "schedule": crontab(hour="3", minute="17"),
}
# HubSpot's limit for every call but search, per account, per rolling 10 s: 100 (Free and
# Starter) or 190 (Professional and Enterprise). Batch reads and write-back share it.
# The starting value and the ceiling: the limiter then follows what HubSpot's answers say
# (X-HubSpot-RateLimit-Max per -Interval-Milliseconds).
HUBSPOT_GENERAL_RPS_10S = env.int("HUBSPOT_GENERAL_RPS_10S", default=100)
# HubSpot resets the daily API limit at midnight in the account's time zone.
HUBSPOT_ACCOUNT_TIME_ZONE = env.str("HUBSPOT_ACCOUNT_TIME_ZONE", default="UTC")
if HUBSPOT_ACCOUNT_TIME_ZONE not in zoneinfo.available_timezones() | {"UTC"}:
    raise ImproperlyConfigured(
        f"HUBSPOT_ACCOUNT_TIME_ZONE must be a time zone name (Europe/Berlin), "
        f"not {HUBSPOT_ACCOUNT_TIME_ZONE!r}."
    )

# Webhooks: the app's client secret signs every request HubSpot sends (v3 signature).
# Secret: never logged, echoed, or shown. Without it the webhook endpoint answers 503.
HUBSPOT_CLIENT_SECRET = env.str("HUBSPOT_CLIENT_SECRET", default="")
# While the app's secret is rotated: the old one, still accepted until it is unset.
HUBSPOT_CLIENT_SECRET_PREVIOUS = env.str("HUBSPOT_CLIENT_SECRET_PREVIOUS", default="")
# The webhook URL as registered with HubSpot, when it differs from what this server sees
# (a proxy that rewrites the host or the scheme): the signature covers the full URL.
HUBSPOT_WEBHOOK_URL = env.str("HUBSPOT_WEBHOOK_URL", default="")
HUBSPOT_WEBHOOK_EVENT_RETENTION_DAYS = env.int("HUBSPOT_WEBHOOK_EVENT_RETENTION_DAYS", default=7)
CELERY_BEAT_SCHEDULE["hubspot-webhook-events"] = {
    # Events are processed as they arrive; this picks up any whose job was lost.
    "task": "hubspot.tasks.process_webhook_events",
    "schedule": 60.0,
    "options": {"expires": 60},
}
CELERY_BEAT_SCHEDULE["hubspot-resume-imports"] = {
    "task": "hubspot.tasks.resume_stalled_imports",
    "schedule": 60.0,
    "options": {"expires": 60},
}

# The HubSpot JSON last fetched for each deal (admin, for debugging), kept this long.
RAW_PAYLOAD_TTL_DAYS = env.int("RAW_PAYLOAD_TTL_DAYS", default=30)
CELERY_BEAT_SCHEDULE["hubspot-delete-old-payloads"] = {
    "task": "hubspot.tasks.delete_old_payloads",
    "schedule": crontab(hour="3", minute="37"),
}


def _writeback_properties(value: str) -> dict[str, str]:
    """HUBSPOT_WRITEBACK_PROPERTIES: a JSON object {"status": name, "stage": name,
    "finished_at": name} (any subset), or a comma list of three names in that order."""
    fields = ("status", "stage", "finished_at")
    text = value.strip()
    if text.startswith("{"):
        try:
            names = json.loads(text)
        except ValueError:
            names = None
        if not isinstance(names, dict) or not set(names) <= set(fields) or not names:
            raise ImproperlyConfigured(
                f"HUBSPOT_WRITEBACK_PROPERTIES: a JSON object with keys from {fields}"
            )
    else:
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != len(fields):
            raise ImproperlyConfigured(
                f"HUBSPOT_WRITEBACK_PROPERTIES: three comma-separated names, for {fields}"
            )
        names = dict(zip(fields, parts, strict=True))
    if not all(isinstance(name, str) and name.strip() for name in names.values()):
        raise ImproperlyConfigured("HUBSPOT_WRITEBACK_PROPERTIES: every name must be non-empty")
    return {field: names[field].strip() for field in fields if field in names}


# Write-back: a deal's outcome (done or failed) sent to its HubSpot deal's properties.
# Off by default (bin/run's demo turns it on): a HubSpot account needs the properties first.
HUBSPOT_WRITEBACK_ENABLED = env.bool("HUBSPOT_WRITEBACK_ENABLED", default=False)
HUBSPOT_WRITEBACK_PROPERTIES = _writeback_properties(
    env.str(
        "HUBSPOT_WRITEBACK_PROPERTIES",
        default="vcc_pipeline_status,vcc_pipeline_stage,vcc_pipeline_finished_at",
    )
)
HUBSPOT_WRITEBACK_INTERVAL_SECONDS = env.float("HUBSPOT_WRITEBACK_INTERVAL_SECONDS", default=60.0)
# Failed sends are retried this many times, waiting BACKOFF * 2^n; then staff retry them.
HUBSPOT_WRITEBACK_MAX_RETRIES = env.int("HUBSPOT_WRITEBACK_MAX_RETRIES", default=5)
HUBSPOT_WRITEBACK_BACKOFF_SECONDS = env.float("HUBSPOT_WRITEBACK_BACKOFF_SECONDS", default=60.0)
# A claim older than this belongs to a pass that died mid-send: its outcomes are taken
# again. Longer than one batch update can take with the client's retries.
HUBSPOT_WRITEBACK_LEASE_SECONDS = env.float("HUBSPOT_WRITEBACK_LEASE_SECONDS", default=600.0)
CELERY_BEAT_SCHEDULE["hubspot-writeback"] = {
    "task": "hubspot.tasks.writeback_outcomes",
    "schedule": HUBSPOT_WRITEBACK_INTERVAL_SECONDS,
    "options": {"expires": HUBSPOT_WRITEBACK_INTERVAL_SECONDS},
}

# Shared state across processes (the search rate limit); the broker's Redis unless set.
REDIS_URL = env.str("REDIS_URL", default="") or engines.redis_py_url(CELERY_BROKER_URL)

# ------------------------------------------------------------------------------
# Logging: one key=value line per event
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"()": "vcc.logging.KeyValueFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "kv",  # redacts secrets too
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs request lines; keep it quiet so no URL with a secret is ever printed.
        "urllib3": {"level": "WARNING"},
    },
}
