"""The pipeline runner: takes one deal through the registered stages, in order.

State lives in the database, not in the job: `deals.status` and `current_stage` say
where a deal is, and `pipeline_runs` records every attempt. A job only says "advance
this deal", so duplicate or redelivered jobs are harmless and a lost job can be sent
again by the sweeper.
"""

import logging
import time
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .locks import deal_lock
from .models import STAGE_ORDER, Deal, PipelineRun
from .runs import run_end, run_start
from .stages import RetryableStageError, StageError, stage_function

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost"


def deal_process(*, deal_id: uuid.UUID, lock_wait_seconds: float = 0.0) -> None:
    """Advance the deal from its current stage to done, or to the first failed stage.

    Does nothing when the deal is done or failed, or when another worker holds it.
    """
    while True:
        with deal_lock(deal_id, wait_seconds=lock_wait_seconds) as taken:
            if not taken:
                logger.info("pipeline_busy", extra={"deal_id": deal_id})
                return
            try:
                _process_locked(deal_id)
            except (OperationalError, InterfaceError) as exc:
                # Lost connection and the like: the task retries with backoff; the next
                # attempt starts the interrupted stage again as a new run.
                _record_lost_connection(deal_id, exc)
                raise
        # A re-run requested while we held the lock sent a job that found the lock taken
        # and gave up; the re-run is ours to do. (Checked after releasing, so no request
        # falls between "the other job gave up" and "we stopped looking".)
        if not Deal.objects.filter(id=deal_id, status=Deal.Status.PENDING).exists():
            return


def _process_locked(deal_id: uuid.UUID) -> None:
    while True:
        deal = Deal.objects.filter(id=deal_id).first()
        if deal is None:
            logger.warning("pipeline_deal_missing", extra={"deal_id": deal_id})
            return
        if deal.status == Deal.Status.RUNNING:
            # We hold the lock, so whoever marked this deal running has died.
            deal_close_lost_runs(deal=deal)
            deal.refresh_from_db(fields=["status"])
            if deal.status != Deal.Status.RUNNING:
                return  # failed: its stage kept killing the worker
        elif deal.status != Deal.Status.PENDING:
            return  # done or failed: a duplicate job, nothing to do
        # Claim it. Who else writes here: a re-run or retry (services.py) may reset a
        # pending deal's stage between our read and this update; then we read again.
        claimed = Deal.objects.filter(
            id=deal.id, status=deal.status, current_stage=deal.current_stage
        ).update(status=Deal.Status.RUNNING, updated_at=timezone.now())
        if claimed:
            break
    _run_stages(deal)


def _run_stages(deal: Deal) -> None:
    succeeded: PipelineRun | None = None  # closed in the same write as the next start
    for stage in STAGE_ORDER[STAGE_ORDER.index(deal.current_stage) :]:
        for try_number in range(1, settings.PIPELINE_MAX_ATTEMPTS + 1):
            run = run_start(deal=deal, stage=stage, now=timezone.now(), close_succeeded=succeeded)
            if succeeded is not None:
                logger.info("stage_succeeded", extra=_log_fields(deal, succeeded))
            logger.info("stage_started", extra=_log_fields(deal, run))
            succeeded = None
            error = _call_stage(deal, stage)
            if error is None:
                succeeded = run
                break
            retryable, message = error
            will_retry = retryable and try_number < settings.PIPELINE_MAX_ATTEMPTS
            _fail(deal, run, message, fail_deal=not will_retry)
            if not will_retry:
                return
            time.sleep(settings.PIPELINE_RETRY_BACKOFF_SECONDS * 2 ** (try_number - 1))
    run_end(
        deal=deal,
        run=succeeded,
        now=timezone.now(),
        run_status=PipelineRun.Status.SUCCEEDED,
        deal_status=Deal.Status.DONE,
    )
    logger.info("stage_succeeded", extra=_log_fields(deal, succeeded))
    logger.info(
        "pipeline_done", extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id}
    )


def _call_stage(deal: Deal, stage: str) -> tuple[bool, str] | None:
    """Run one stage; None when it succeeded, else (retryable, message)."""
    try:
        stage_function(stage)(deal)
    except RetryableStageError as exc:
        return True, str(exc) or type(exc).__name__
    except StageError as exc:
        return False, str(exc) or type(exc).__name__
    except SoftTimeLimitExceeded:
        return False, f"timed out: the job passed its {settings.CELERY_TASK_SOFT_TIME_LIMIT}s limit"
    except (OperationalError, InterfaceError):
        raise  # not the stage's fault: see deal_process
    except Exception as exc:  # a bug in a stage fails the deal, with the reason on the run
        logger.exception("stage_crashed", extra={"deal_id": deal.id, "stage": stage})
        return False, f"{type(exc).__name__}: {exc}"
    return None


def _record_lost_connection(deal_id: uuid.UUID, exc: Exception) -> None:
    """Close the deal's open run with the real reason, on a fresh connection if the
    database is back; if not, the next attempt closes it as "worker lost"."""
    connection.close()  # the broken connection, and the deal's lock with it
    try:
        with deal_lock(deal_id) as taken:
            if taken:  # nobody took the deal over meanwhile: the open run is ours
                PipelineRun.objects.filter(
                    deal_id=deal_id, status=PipelineRun.Status.RUNNING
                ).update(
                    status=PipelineRun.Status.FAILED,
                    ended_at=timezone.now(),
                    error=f"database connection lost: {exc}".strip(),
                )
    except DatabaseError:
        pass  # still down
    finally:
        connection.close()  # so the caller's lock release does not run on this connection


def _fail(deal: Deal, run: PipelineRun, message: str, *, fail_deal: bool) -> None:
    deal_status = Deal.Status.FAILED if fail_deal else Deal.Status.RUNNING
    run_end(
        deal=deal,
        run=run,
        now=timezone.now(),
        run_status=PipelineRun.Status.FAILED,
        error=message,
        deal_status=deal_status,
    )
    logger.warning("stage_failed", extra={**_log_fields(deal, run), "error": message})
    if fail_deal:
        logger.warning("pipeline_failed", extra={"deal_id": deal.id, "stage": run.stage})


def _log_fields(deal: Deal, run: PipelineRun | None) -> dict:
    fields = {"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id}
    if run is not None:
        fields.update(stage=run.stage, attempt=run.attempt, run_id=run.id)
    return fields


def deal_close_lost_runs(*, deal: Deal) -> int:
    """Close the runs a dead worker left `running`; returns how many. Call only while
    holding the deal's lock.

    Fails the deal when its stage has now lost its worker PIPELINE_MAX_LOST_WORKERS times
    in a row: a stage that kills its worker would otherwise be delivered again forever.
    """
    now = timezone.now()
    closed = PipelineRun.objects.filter(deal=deal, status=PipelineRun.Status.RUNNING).update(
        status=PipelineRun.Status.FAILED, ended_at=now, error=WORKER_LOST
    )
    if closed:
        logger.warning(
            "stage_worker_lost",
            extra={
                "deal_id": deal.id,
                "hubspot_deal_id": deal.hubspot_deal_id,
                "stage": deal.current_stage,
                "runs": closed,
            },
        )
    limit = settings.PIPELINE_MAX_LOST_WORKERS
    recent = list(
        PipelineRun.objects.filter(deal=deal, stage=deal.current_stage).order_by("-attempt")[:limit]
    )
    if len(recent) < limit or any(run.error != WORKER_LOST for run in recent):
        return closed
    # Not "worker lost" itself: after an operator retries, the count starts again.
    reason = (
        f"gave up: {WORKER_LOST} {limit} times in a row at {deal.current_stage}, "
        "so the job is not delivered again forever"
    )
    with transaction.atomic():
        PipelineRun.objects.filter(id=recent[0].id).update(error=reason)
        Deal.objects.filter(id=deal.id).update(status=Deal.Status.FAILED, updated_at=now)
    logger.error(
        "pipeline_failed",
        extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id, "error": reason},
    )
    return closed
