"""Insights, metrics, health and alerts."""

import environ

from vcc.queues import CONTROL_QUEUE

from .base import env
from .celery_conf import CELERY_BEAT_SCHEDULE, CELERY_TASK_ROUTES

# ------------------------------------------------------------------------------
# Insights, metrics, health and alerts
# ------------------------------------------------------------------------------
# The changes the insights' triggers append are folded into their rollups this often: the
# queue page's charts and /metrics are this fresh (deals/services/insights.py).
INSIGHTS_FOLD_INTERVAL_SECONDS = env.float("INSIGHTS_FOLD_INTERVAL_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE["deals-fold-insights"] = {
    "task": "deals.tasks.fold_insights",
    "schedule": INSIGHTS_FOLD_INTERVAL_SECONDS,
    "options": {"expires": INSIGHTS_FOLD_INTERVAL_SECONDS},
}
CELERY_TASK_ROUTES["deals.tasks.fold_insights"] = {"queue": CONTROL_QUEUE}
# Health fails when the oldest pending deal has waited longer than this.
PIPELINE_BACKLOG_ALERT_MINUTES = env.int("PIPELINE_BACKLOG_ALERT_MINUTES", default=30)
# /metrics: with a token, `Authorization: Bearer <token>` from anywhere; without one, only
# from loopback. Secret.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Health alerts by mail: sent to ADMINS ("a@example.com,b@example.com") when health turns
# failing and when it recovers, at most one mail per reason per hour; none when unset.
ADMINS = [(address, address) for address in env.list("ADMINS", default=[])]
# Django's mail: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://, consolemail://).
vars().update(
    environ.Env.email_url_config(env.str("EMAIL_URL", default="") or "smtp://localhost:25")
)
SERVER_EMAIL = env.str("SERVER_EMAIL", default="vcc@localhost")
HEALTH_ALERT_INTERVAL_SECONDS = 60.0
CELERY_BEAT_SCHEDULE["health-alerts"] = {
    "task": "hubspot.tasks.send_health_alerts",
    "schedule": HEALTH_ALERT_INTERVAL_SECONDS,
    "options": {"expires": HEALTH_ALERT_INTERVAL_SECONDS},
}
