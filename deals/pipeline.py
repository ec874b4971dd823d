"""The pipeline runner: takes one deal through the registered stages, in order.

State lives in the database, not in the job: `deals.status` and `current_stage` say
where a deal is, and `pipeline_runs` records every attempt. A job only says "advance
this deal", so duplicate or redelivered jobs are harmless and a lost job can be sent
again by the sweeper.
"""

import logging
import uuid
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .locks import deal_lock
from .models import STAGE_ORDER, Deal, PipelinePass, PipelineRun
from .passes import deal_pass_start
from .runs import pipeline_run_end, pipeline_run_start
from .stages import RetryableStageError, StageError, stage_function
from .writeback import deal_writeback_queue

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost"


def deal_process(*, deal_id: uuid.UUID, lock_wait_seconds: float = 0.0) -> float | None:
    """Advance the deal from its current stage to done, or to the first failed stage.

    Does nothing when the deal is done or failed, or when another worker holds it. Returns
    the seconds after which the caller should try again when a stage failed with a
    transient error (the deal then waits, pending, with the failed run saying when), else
    None. The wait happens in the broker, not here: the worker slot and the deal's lock are
    free meanwhile.
    """
    while True:
        with deal_lock(deal_id, wait_seconds=lock_wait_seconds) as taken:
            if not taken:
                logger.info("pipeline_busy", extra={"deal_id": deal_id})
                return None
            try:
                retry_in = _process_locked(deal_id)
            except (OperationalError, InterfaceError) as exc:
                # Lost connection and the like: the task retries with backoff; the next
                # attempt starts the interrupted stage again as a new run.
                _record_lost_connection(deal_id, exc)
                raise
        if retry_in is not None:
            return retry_in
        # A re-run requested while we held the lock sent a job that found the lock taken
        # and gave up; the re-run is ours to do. (Checked after releasing, so no request
        # falls between "the other job gave up" and "we stopped looking".)
        pending = Deal.objects.filter(
            id=deal_id, status=Deal.Status.PENDING, hubspot_state=Deal.HubspotState.ACTIVE
        )
        if not pending.exists():
            return None  # (an archived deal waits pending for its restore)


def _process_locked(deal_id: uuid.UUID) -> float | None:
    while True:
        deal = Deal.objects.filter(id=deal_id).first()
        if deal is None:
            logger.warning("pipeline_deal_missing", extra={"deal_id": deal_id})
            return None
        if deal.status == Deal.Status.RUNNING:
            # We hold the lock, so whoever marked this deal running has died.
            deal_close_lost_runs(deal=deal)
            deal.refresh_from_db(fields=["status"])
            if deal.status != Deal.Status.RUNNING:
                return None  # failed: its stage kept killing the worker
        elif deal.status != Deal.Status.PENDING:
            return None  # done or failed: a duplicate job, nothing to do
        if deal.hubspot_state != Deal.HubspotState.ACTIVE:
            return None  # deleted in HubSpot: a restore sends it again
        if deal.current_pass_id is None:
            # A deal that came in some other way than ingestion (a shell, a fixture): its
            # first pass starts here, as if it had come from HubSpot.
            deal_pass_start(
                deal_id=deal.id,
                trigger=PipelinePass.Trigger.NEW,
                from_stage=deal.current_stage,
                now=timezone.now(),
                only_if={"current_pass__isnull": True},
            )
            continue
        # Claim it. Who else writes here: a re-run or retry (services) may reset a pending
        # deal (a new pass, maybe a new stage) between our read and this update; then we
        # read again.
        claimed = Deal.objects.filter(
            id=deal.id,
            status=deal.status,
            current_stage=deal.current_stage,
            current_pass_id=deal.current_pass_id,
        ).update(status=Deal.Status.RUNNING, updated_at=timezone.now())
        if claimed:
            break
    return _run_stages(deal)


def _run_stages(deal: Deal) -> float | None:
    succeeded: PipelineRun | None = None  # closed in the same write as the next start
    for stage in STAGE_ORDER[STAGE_ORDER.index(deal.current_stage) :]:
        if not Deal.objects.filter(id=deal.id, hubspot_state=Deal.HubspotState.ACTIVE).exists():
            # Deleted in HubSpot meanwhile: stop at this boundary, pending here, so that a
            # restore goes on from this stage (deals/services/lifecycle.py).
            _stop_at_boundary(deal, succeeded, stage)
            return None
        run = pipeline_run_start(
            deal=deal, stage=stage, now=timezone.now(), close_succeeded=succeeded
        )
        if succeeded is not None:
            logger.info("stage_succeeded", extra=_log_fields(deal, succeeded))
        logger.info("stage_started", extra=_log_fields(deal, run))
        error = _call_stage(deal, stage)
        if error is None:
            succeeded = run
            continue
        retryable, message = error
        return _fail(deal, run, message, retryable=retryable)
    assert succeeded is not None  # STAGE_ORDER ends with done, which every deal reaches
    pipeline_run_end(
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
    return None


def _stop_at_boundary(deal: Deal, succeeded: PipelineRun | None, stage: str) -> None:
    now = timezone.now()
    if succeeded is not None:
        pipeline_run_end(
            deal=deal,
            run=succeeded,
            now=now,
            run_status=PipelineRun.Status.SUCCEEDED,
            deal_status=Deal.Status.PENDING,
            next_stage=stage,
        )
    else:
        Deal.objects.filter(id=deal.id, status=Deal.Status.RUNNING).update(
            status=Deal.Status.PENDING, updated_at=now
        )
    logger.info(
        "pipeline_stopped_archived",
        extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id, "stage": stage},
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
                now = timezone.now()
                with transaction.atomic():
                    if PipelineRun.objects.filter(
                        deal_id=deal_id, status=PipelineRun.Status.RUNNING
                    ).update(
                        status=PipelineRun.Status.FAILED,
                        ended_at=now,
                        error=f"database connection lost: {exc}".strip(),
                    ):
                        Deal.objects.filter(id=deal_id).update(updated_at=now)
    except DatabaseError:
        pass  # still down
    finally:
        connection.close()  # so the caller's lock release does not run on this connection


def _fail(deal: Deal, run: PipelineRun, message: str, *, retryable: bool) -> float | None:
    """Close the failed run. A transient error with attempts left puts the deal back to
    pending until its retry is due and returns the wait; anything else fails the deal."""
    now = timezone.now()
    earlier = _transient_failures_in_a_row(deal, run)
    retry_in = (
        settings.PIPELINE_RETRY_BACKOFF_SECONDS * 2**earlier
        if retryable and earlier + 1 < settings.PIPELINE_MAX_ATTEMPTS
        else None
    )
    retry_at = now + timedelta(seconds=retry_in) if retry_in is not None else None
    pipeline_run_end(
        deal=deal,
        run=run,
        now=now,
        run_status=PipelineRun.Status.FAILED,
        error=message,
        deal_status=Deal.Status.FAILED if retry_at is None else Deal.Status.PENDING,
        retry_at=retry_at,
    )
    fields = {**_log_fields(deal, run), "error": message}
    if retry_at is not None:
        logger.warning("stage_failed", extra={**fields, "retry_at": retry_at})
    else:
        logger.warning("stage_failed", extra=fields)
        logger.warning("pipeline_failed", extra={"deal_id": deal.id, "stage": run.stage})
    return retry_in


def _transient_failures_in_a_row(deal: Deal, run: PipelineRun) -> int:
    """How many runs of this stage just before `run` failed with a retry scheduled: the
    attempts already spent on this streak. A final failure (no retry) ends a streak, so
    after an operator retries the count starts again."""
    limit = settings.PIPELINE_MAX_ATTEMPTS
    earlier = (
        PipelineRun.objects.filter(deal=deal, stage=run.stage, attempt__lt=run.attempt)
        .order_by("-attempt")
        .values_list("retry_at", flat=True)[:limit]
    )
    streak = 0
    for retry_at in earlier:
        if retry_at is None:
            break
        streak += 1
    return streak


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
    with transaction.atomic():
        closed = PipelineRun.objects.filter(deal=deal, status=PipelineRun.Status.RUNNING).update(
            status=PipelineRun.Status.FAILED, ended_at=now, error=WORKER_LOST
        )
        if closed:  # the queue shows runs: its change marker is the deal's row (selectors)
            Deal.objects.filter(id=deal.id).update(updated_at=now)
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
        deal_writeback_queue(
            deal_id=deal.id, deal_status=Deal.Status.FAILED, stage=deal.current_stage, now=now
        )
    logger.error(
        "pipeline_failed",
        extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id, "error": reason},
    )
    return closed
