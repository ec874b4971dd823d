"""Reads of the HubSpot app's records, for the API and the admin."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django_celery_beat.models import PeriodicTask

from deals.selectors import pipeline_health_facts

from .models import DealImport, DealImportItem, SyncRun, SyncRunTotal, WebhookEvent
from .quota import DailyStatus, build_daily_quota, limit_reached_message


def sync_runs_recent() -> QuerySet[SyncRun]:
    """Every sync run, newest first (the API pages through it)."""
    return SyncRun.objects.order_by("-created_at", "-id")


def sync_run_get(*, run_id: uuid.UUID) -> SyncRun | None:
    """One sync run, with the records it rejected."""
    return SyncRun.objects.prefetch_related("rejections").filter(id=run_id).first()


def deal_import_get(*, import_id: uuid.UUID) -> DealImport | None:
    return DealImport.objects.filter(id=import_id).first()


def deal_import_totals(*, import_id: uuid.UUID) -> dict[str, int]:
    """How many items ended each way, how many are done, and the total (one query)."""
    Status = DealImportItem.Status
    counts = {
        status: Count("id", filter=Q(status=status))
        for status in Status.values
        if status != Status.PENDING
    }
    totals = DealImportItem.objects.filter(deal_import_id=import_id).aggregate(
        total=Count("id"), **counts
    )
    totals["done"] = sum(totals[status] for status in counts)
    return totals


def deal_import_items(*, import_id: uuid.UUID, offset: int, limit: int) -> list[DealImportItem]:
    """The import's items in request order, `limit` from `offset`."""
    items = DealImportItem.objects.filter(deal_import_id=import_id).order_by("position")
    return list(items[offset : offset + limit])


class Severity:
    DEGRADED = "degraded"  # something needs a look; deals still flow
    FAILING = "failing"  # deals stop coming in or moving: the alerts' business


# Every reason health may give, by code (the API's enum; alerts are throttled per code).
HEALTH_CODES = (
    "sync_failed",
    "sync_stale",
    "reconcile_failed",
    "daily_limit_reached",
    "daily_limit_low",
    "backlog_old",
    "writebacks_error",
    "webhook_events_failed",
)


@dataclass(frozen=True)
class HealthReason:
    """One thing wrong: a stable code (alerts are throttled per code), how bad, and what
    it is in an operator's words."""

    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class SyncHealth:
    """Ingestion at a glance, for the queue page's strip (see sync_health)."""

    last_sync: SyncRun | None
    # The latest finished reconcile (deletions, restores, merges read back).
    last_reconcile: SyncRun | None
    last_success_at: datetime | None
    next_due_at: datetime | None
    schedule: str
    failing: bool
    problem: str | None
    # HubSpot's daily API limit as its answers last said it, and the stop once reached.
    daily: DailyStatus
    # Webhook events HubSpot kept refusing to read, marked failed (admin: filter on status).
    failed_webhook_events: int = 0
    # The system's health: every reason, worst first; ok when there is none.
    reasons: tuple[HealthReason, ...] = ()

    @property
    def status(self) -> str:
        severities = {reason.severity for reason in self.reasons}
        if Severity.FAILING in severities:
            return Severity.FAILING
        return Severity.DEGRADED if severities else "ok"


# The beat entry of the scheduled sync (hubspot-poll in vcc/settings/hubspot.py).
POLL_TASK_NAME = "hubspot-poll"

# The newest run of each kind the strip needs, in one statement: the latest that ran or is
# running (skips left out), the latest finished, the latest success, the latest scheduled
# (skipped or not). Raw SQL: as four ORM queries, Django took longer to compile them than
# PostgreSQL to answer them, on every open queue page's poll. Each can walk
# sync_runs_created_desc from the newest run.
_LATEST_RUNS = " UNION ALL ".join(
    f"(SELECT '{kind}' AS latest_of, * FROM {SyncRun._meta.db_table} WHERE {where} "
    "ORDER BY created_at DESC, id DESC LIMIT 1)"
    for kind, where in [
        ("last", "status <> %(skipped)s AND kind <> %(reconcile)s"),
        ("finished", "status IN (%(succeeded)s, %(failed)s) AND kind <> %(reconcile)s"),
        ("success", "status = %(succeeded)s AND kind <> %(reconcile)s"),
        ("scheduled", "trigger = %(scheduled)s AND kind <> %(reconcile)s"),
        # The reconcile's runs share the table, and the strip reports the latest apart.
        ("reconcile", "kind = %(reconcile)s AND status IN (%(succeeded)s, %(failed)s)"),
    ]
)


def sync_health(*, now: datetime) -> SyncHealth:
    """The latest sync, when the next is due, and whether ingestion is failing: HubSpot's
    daily limit is reached, the last sync failed, none has succeeded in three poll
    intervals, or the last reconcile failed (`problem`). And the whole system's health:
    every reason, ingestion's and the pipeline's (`reasons`, `status`). A few indexed
    queries, so every open queue page can poll it."""
    interval = timedelta(minutes=settings.HUBSPOT_POLL_INTERVAL_MINUTES)
    params = {
        "skipped": SyncRun.Status.SKIPPED.value,
        "succeeded": SyncRun.Status.SUCCEEDED.value,
        "failed": SyncRun.Status.FAILED.value,
        "scheduled": SyncRun.Trigger.SCHEDULED.value,
        "reconcile": SyncRun.Kind.RECONCILE.value,
    }
    runs = SyncRun.objects.raw(_LATEST_RUNS, params)
    latest = {run.latest_of: run for run in runs}  # type: ignore[attr-defined]  # the query's
    last, finished, success = latest.get("last"), latest.get("finished"), latest.get("success")
    last_success_at = (success.finished_at or success.created_at) if success else None
    stale_after = 3 * interval
    problem = None
    reasons: list[HealthReason] = []
    if finished is not None and finished.status == SyncRun.Status.FAILED:
        reason = (finished.error or "no reason was recorded").strip().rstrip(".")
        problem = f"The last sync failed: {reason}."
        reasons.append(HealthReason("sync_failed", Severity.FAILING, problem))
    elif last_success_at is not None and now - last_success_at > stale_after:
        problem = f"No sync has succeeded in the last {_minutes(now - last_success_at)}."
        reasons.append(HealthReason("sync_stale", Severity.FAILING, problem))
    elif last_success_at is None and last is not None and now - last.created_at > stale_after:
        problem = "No sync has succeeded yet."
        reasons.append(HealthReason("sync_stale", Severity.FAILING, problem))
    reconcile = latest.get("reconcile")
    if reconcile is not None and reconcile.status == SyncRun.Status.FAILED:
        reason = (reconcile.error or "no reason was recorded").strip().rstrip(".")
        message = f"The last reconcile failed: {reason}."
        problem = problem or message
        reasons.append(HealthReason("reconcile_failed", Severity.DEGRADED, message))
    daily = build_daily_quota().status()
    if daily.stopped_until is not None:
        # Before any other reason: nothing reaches HubSpot until then.
        problem = limit_reached_message(daily.stopped_until) + "."
        reasons.insert(0, HealthReason("daily_limit_reached", Severity.FAILING, problem))
    elif daily.limit and daily.remaining is not None and daily.remaining < daily.limit / 10:
        message = (
            f"HubSpot's daily API limit is nearly spent: {daily.remaining:,} of "
            f"{daily.limit:,} calls left today."
        )
        reasons.append(HealthReason("daily_limit_low", Severity.DEGRADED, message))
    failed_webhooks = webhook_events_failed()
    reasons += _pipeline_reasons(now=now, failed_webhooks=failed_webhooks)
    reasons.sort(key=lambda r: r.severity != Severity.FAILING)  # stable: worst first
    scheduled = latest.get("scheduled")
    next_due_at, schedule = _next_due(
        scheduled.created_at if scheduled else None, interval=interval
    )
    return SyncHealth(
        last_sync=last,
        last_reconcile=reconcile,
        last_success_at=last_success_at,
        next_due_at=next_due_at,
        schedule=schedule,
        failing=problem is not None,
        problem=problem,
        daily=daily,
        failed_webhook_events=failed_webhooks,
        reasons=tuple(reasons),
    )


def webhook_events_failed() -> int:
    """Webhook events HubSpot kept refusing to read, given up (admin: filter on status):
    the small partial index of failed events."""
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()


def _pipeline_reasons(*, now: datetime, failed_webhooks: int) -> list[HealthReason]:
    """The backlog's oldest deal waiting too long, write-backs in error, webhook events
    whose reads failed (deals' side of the health, through deals' selectors)."""
    reasons = []
    facts = pipeline_health_facts()
    oldest = facts.oldest_pending_at
    alert_after = timedelta(minutes=settings.PIPELINE_BACKLOG_ALERT_MINUTES)
    if oldest is not None and now - oldest > alert_after:
        message = (
            f"The oldest pending deal has waited {_minutes(now - oldest)} (alert after "
            f"{settings.PIPELINE_BACKLOG_ALERT_MINUTES} minutes): the pipeline is behind."
        )
        reasons.append(HealthReason("backlog_old", Severity.FAILING, message))
    errors = facts.writebacks_in_error
    if errors:
        message = f"{errors:,} write-back(s) to HubSpot in error: retry them in the admin."
        reasons.append(HealthReason("writebacks_error", Severity.DEGRADED, message))
    if failed_webhooks:
        message = (
            f"{failed_webhooks:,} webhook event(s) given up: HubSpot kept refusing to read "
            "their deal (admin: Webhook events, status failed)."
        )
        reasons.append(HealthReason("webhook_events_failed", Severity.DEGRADED, message))
    return reasons


def _next_due(scheduled_at: datetime | None, *, interval: timedelta) -> tuple[datetime | None, str]:
    """When beat runs the next scheduled sync, from its own entry (staff may pause it or
    change it in the admin) and the latest scheduled run (beat saves its own record of the
    last run only every few minutes)."""
    task = (
        PeriodicTask.objects.filter(name=POLL_TASK_NAME)
        .values_list("enabled", "last_run_at", "interval__every", "interval__period", named=True)
        .first()
    )
    if task is not None and not task.enabled:
        return None, "paused in the admin (Periodic tasks)"
    every = (
        timedelta(**{task.interval__period: task.interval__every})
        if task is not None and task.interval__every is not None
        else interval
    )
    last_tick = max(filter(None, [scheduled_at, task and task.last_run_at]), default=None)
    if last_tick is None:
        return None, f"every {_minutes(every)}"
    # In the past when beat missed its tick: the page says the sync is overdue.
    return last_tick + every, f"every {_minutes(every)}"


def _minutes(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 90:
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"


def sync_run_totals() -> list[tuple[str, str, int, int, float]]:
    """(kind, status, duration bin, runs, seconds) of every sync run that ever ended."""
    return list(SyncRunTotal.objects.values_list("kind", "status", "bin", "runs", "seconds"))
