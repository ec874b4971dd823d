from celery import shared_task
from django.conf import settings

from .models import SyncRun
from .services import sync_run_claim, sync_run_execute, sync_run_start, sync_runs_delete_old

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
    run = sync_run_start(trigger=SyncRun.Trigger.SCHEDULED)
    if run.status == SyncRun.Status.RUNNING:
        sync_run_execute(run=run)
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
