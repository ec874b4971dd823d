"""HubSpot: credentials, the API version, syncs, reconcile, rate limits, webhooks,
imports, write-back."""

import json
import zoneinfo
from datetime import timedelta
from urllib.parse import urlsplit

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from vcc import engines

from .base import env
from .celery_conf import CELERY_BEAT_SCHEDULE, CELERY_BROKER_URL

# ------------------------------------------------------------------------------
# HubSpot
# ------------------------------------------------------------------------------
# Secret: never logged, echoed, or shown in the admin, errors or reprs.
HUBSPOT_ACCESS_TOKEN = env.str("HUBSPOT_ACCESS_TOKEN", default="")
HUBSPOT_BASE_URL = env.str("HUBSPOT_BASE_URL", default="https://api.hubapi.com")
# The token travels with every call: in clear only to this machine (the simulator).
_hubspot_url = urlsplit(HUBSPOT_BASE_URL)
if _hubspot_url.scheme != "https" and not (
    _hubspot_url.scheme == "http" and _hubspot_url.hostname in ("127.0.0.1", "localhost", "::1")
):
    raise ImproperlyConfigured(
        f"HUBSPOT_BASE_URL must be https:// (http:// only to this machine, 127.0.0.1 or "
        f"localhost), not {HUBSPOT_BASE_URL!r}."
    )
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
# Deletions, restores and merges no webhook told us of: one batch read per 100 deals a pass.
HUBSPOT_RECONCILE_INTERVAL_MINUTES = env.int("HUBSPOT_RECONCILE_INTERVAL_MINUTES", default=60)
CELERY_BEAT_SCHEDULE["hubspot-reconcile"] = {
    "task": "hubspot.tasks.reconcile_hubspot",
    "schedule": timedelta(minutes=HUBSPOT_RECONCILE_INTERVAL_MINUTES),
    "options": {"expires": HUBSPOT_RECONCILE_INTERVAL_MINUTES * 60},
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
# An event HubSpot refuses to read (not a transient failure) this many times is marked failed.
HUBSPOT_WEBHOOK_MAX_ATTEMPTS = env.int("HUBSPOT_WEBHOOK_MAX_ATTEMPTS", default=5)
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
