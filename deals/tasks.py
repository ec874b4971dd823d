import uuid

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from .pipeline import deal_process
from .services import (
    deal_counts_fold,
    deals_feed_operator_lane,
    deals_send_now,
    deals_sweep_stuck,
    insights_fold,
    pipeline_runs_clear_old_logs,
)


@shared_task(
    bind=True,
    # A lost database connection: try again later on a fresh connection. The next attempt
    # closes the interrupted run and starts the stage again as a new run.
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=settings.PIPELINE_MAX_ATTEMPTS - 1,
    retry_backoff=settings.PIPELINE_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=60,
    retry_jitter=True,
)
def process_deal(self, deal_id: str) -> None:
    # A short wait for the lock: a job redelivered after its worker was killed may arrive
    # before PostgreSQL has noticed the dead connection and released the lock.
    retry_in = deal_process(deal_id=uuid.UUID(deal_id), lock_wait_seconds=3.0)
    if retry_in is not None:
        # A transient stage error: the broker holds the job until the retry is due (the
        # failed run records when). The stage's attempts are counted in pipeline_runs, so
        # Celery's own limit (meant for lost connections) must not stop this retry.
        raise self.retry(countdown=retry_in, max_retries=self.request.retries + 1)


@shared_task
def sweep_stuck_deals() -> dict:
    result = deals_sweep_stuck()
    return {"lost_runs_closed": result.lost_runs_closed, "deals_enqueued": result.deals_enqueued}


@shared_task
def fold_deal_counts() -> bool:
    return deal_counts_fold()


@shared_task
def fold_insights() -> list[int] | None:
    folded = insights_fold(now=timezone.now())
    return list(folded) if folded else None


@shared_task
def enqueue_deals(deals: list[list[str]], reason: str) -> int:
    """Fan out `process_deal` for a batch of deals (see services.deals_enqueue)."""
    return deals_send_now(
        deals=[(deal_id, hubspot_id) for deal_id, hubspot_id in deals], reason=reason
    )


@shared_task
def feed_operator_lane(bulk_id: str, after: str | None = None) -> int:
    """Send one page of a bulk action's deals to the operator lane, and this job again
    behind them for the next page (see services.bulk)."""
    return deals_feed_operator_lane(
        bulk_id=uuid.UUID(bulk_id),
        after=uuid.UUID(after) if after else None,
        page_size=settings.PIPELINE_OPERATOR_PAGE_SIZE,
    )


@shared_task
def clear_old_run_logs() -> int:
    """Daily: the log lines of runs past PIPELINE_RUN_LOG_RETENTION_DAYS."""
    return pipeline_runs_clear_old_logs()
