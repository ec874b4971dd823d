import uuid

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import SyncRun
from .services import (
    deal_import_run,
    deal_imports_resume_stalled,
    deal_payloads_delete_old,
    health_alerts_send,
    reconcile_run_execute,
    reconcile_run_start,
    sync_run_claim,
    sync_run_execute,
    sync_run_start,
    sync_runs_delete_old,
    webhook_events_delete_old,
    webhook_events_process,
    writeback_pass,
)

# Syncs are not redelivered when a worker dies (acks_late off): the run's lock expires and
# the next tick starts from the lost run's window, so a long sync never runs twice.
_SYNC_TASK = {
    "acks_late": False,
    "soft_time_limit": settings.HUBSPOT_SYNC_TIME_LIMIT_SECONDS,
    "time_limit": settings.HUBSPOT_SYNC_TIME_LIMIT_SECONDS + 60,
}


@shared_task(**_SYNC_TASK)
def poll_hubspot() -> str:
    """The beat-scheduled sync. A tick that finds another sync in flight records a skip."""
    return _sync_here(SyncRun.Trigger.SCHEDULED)


@shared_task(**_SYNC_TASK)
def reread_hubspot() -> str:
    """The daily re-read of every deal checked in within the lookback window (sync_plan)."""
    return _sync_here(SyncRun.Trigger.REREAD)


def _sync_here(trigger: str) -> str:
    run = sync_run_start(trigger=trigger)
    if run.status == SyncRun.Status.RUNNING:
        sync_run_execute(run=run)
    return run.status


@shared_task(**_SYNC_TASK)
def reconcile_hubspot() -> str:
    """The beat-scheduled reconcile: deletions, restores and merges no webhook told us."""
    run = reconcile_run_start(trigger=SyncRun.Trigger.SCHEDULED)
    if run.status == SyncRun.Status.RUNNING:
        run = reconcile_run_execute(run=run)
    return run.status


@shared_task(**_SYNC_TASK)
def run_sync(run_id: str) -> str | None:
    """A sync queued by staff (the API or the admin's "Sync now")."""
    run = sync_run_claim(run_id=run_id)
    if run is not None:
        sync_run_execute(run=run)
        return run.status
    return None


@shared_task
def delete_old_sync_runs() -> int:
    return sync_runs_delete_old()


@shared_task(bind=True, max_retries=3)
def process_webhook_events(self) -> dict:
    """Read and upsert the deals of pending webhook events. Sent by each webhook request
    that recorded something new, and by beat every minute for any event left behind."""
    result = webhook_events_process()
    if result.error and self.request.retries < self.max_retries:
        # HubSpot failed: try again soon rather than at the next beat tick.
        raise self.retry(countdown=5 * 2**self.request.retries)
    return {"events": result.events, "imported": result.imported, "error": result.error}


@shared_task
def run_import(import_id: str) -> bool:
    return deal_import_run(import_id=uuid.UUID(import_id))


@shared_task
def resume_stalled_imports() -> int:
    return deal_imports_resume_stalled()


@shared_task(
    # One pass sends at most 100 batches of 100 at HubSpot's general limit: well inside.
    soft_time_limit=600,
    time_limit=660,
)
def writeback_outcomes() -> dict:
    result = writeback_pass()
    return {"sent": result.sent, "failed": result.failed, "remaining": result.remaining}


@shared_task
def delete_old_payloads() -> dict:
    """Daily: raw payloads past RAW_PAYLOAD_TTL_DAYS, and settled webhook events."""
    return {
        "payloads": deal_payloads_delete_old(),
        "webhook_events": webhook_events_delete_old(),
    }


@shared_task
def send_health_alerts() -> dict | None:
    """Mail ADMINS when health turns failing or recovers (throttled; off without ADMINS)."""
    result = health_alerts_send(now=timezone.now())
    return None if result is None else {"failing": result.failing, "recovered": result.recovered}
