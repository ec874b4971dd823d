"""Security: HTTPS and cookies, the Content-Security-Policy, login throttling, the proxy
in front, request size limits."""

from datetime import timedelta

from .base import BASE_DIR, DEBUG, env

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
# Content-Security-Policy, login throttling, proxies, request sizes
# ------------------------------------------------------------------------------
# Content-Security-Policy (django-csp) on every page: the queue page, the admin and the docs
# run no inline script and load nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

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

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out login goes no further
    "vcc.auth.PermissionsInOneQueryBackend",
]
# Logins are throttled (django-axes), on our login page and the admin's alike: after
# LOGIN_FAILURE_LIMIT failures for a username, or from an address, within
# LOGIN_LOCKOUT_MINUTES, further attempts are refused for that long; a success resets it.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # refused for the window, no longer
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "vcc.auth.client_ip"
AXES_VERBOSE = False
# How many proxies in front of gunicorn append to X-Forwarded-For (compose: 1, its proxy);
# 0: the client is the peer address. Nothing else trusts that header.
DJANGO_PROXY_HOPS = env.int("DJANGO_PROXY_HOPS", default=0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The largest request body, checked before any parsing (vcc/limits.py): an import file
# (multipart), a webhook request, and every other request (JSON bodies, the admin's forms).
REQUEST_MAX_IMPORT_BYTES = env.int("REQUEST_MAX_IMPORT_BYTES", default=2 * 1024 * 1024)
REQUEST_MAX_WEBHOOK_BYTES = env.int("REQUEST_MAX_WEBHOOK_BYTES", default=1024 * 1024)
REQUEST_MAX_JSON_BYTES = env.int("REQUEST_MAX_JSON_BYTES", default=1024 * 1024)
# An import within its limit is parsed in memory, never spooled to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_IMPORT_BYTES + 64 * 1024

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/queue/"
SESSION_ENGINE = "vcc.sessions"  # Django's database sessions, read with one static query
