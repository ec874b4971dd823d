"""The core: the environment and var/.env, Django itself, the database, static files,
logging."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from vcc import engines

BASE_DIR = Path(__file__).resolve().parents[2]
DOT_ENV_FILE = BASE_DIR / "var" / ".env"

env = environ.Env()
# bin/run writes var/.env (DEBUG on, a random secret key) on a developer's first run and
# turns this on (so does manage.py in such a checkout, saying so); real environment variables
# always win over it. Off otherwise: a deploy from a checkout never turns DEBUG on by chance.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False) and DOT_ENV_FILE.is_file():
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
    "csp",
    "axes",  # login throttling (below)
    "deals",
    "hubspot",
]

MIDDLEWARE = [
    # Before anything reads a body (vcc/limits.py): an oversized one is a 413 at once.
    "vcc.limits.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with its page
    "csp.middleware.CSPMiddleware",
]

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
        "axes": {"level": "WARNING"},  # a line per login otherwise; lockouts still show
    },
}
