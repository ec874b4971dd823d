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
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from .locks import deal_lock
from .models import STAGE_ORDER, Deal, PipelinePass, PipelineRun
from .selectors import deal_stage_outputs
from .services.enqueue import deal_enqueue
from .services.passes import deal_pass_start
from .services.runs import (
    RunResult,
    deal_claim,
    deal_close_lost_runs,
    deal_release,
    pipeline_run_end,
    pipeline_run_fail_open,
    pipeline_run_start,
)
from .stages import (
    RegisteredStage,
    RetryableStageError,
    RunLog,
    StageError,
    StageOutput,
    stage_call,
    stage_get,
)

logger = logging.getLogger(__name__)


def deal_process(*, deal_id: uuid.UUID, lock_wait_seconds: float = 0.0) -> float | None:
    try:
        return _deal_process(deal_id=deal_id, lock_wait_seconds=lock_wait_seconds)
    finally:
        _wake_survivor(deal_id)


def _deal_process(*, deal_id: uuid.UUID, lock_wait_seconds: float) -> float | None:
    """Advance the deal from its current stage to done, or to the first failed stage.

    Does nothing when the deal is done or failed, or when another worker holds it. Returns
    the seconds after which the caller should try again when a stage failed with a
    transient error (the deal then waits, pending, with the failed run saying when), or
    else None. The wait happens in the broker, not here: the worker slot and the deal's
    lock are free meanwhile. A deal merged into another wakes its survivor once it has
    stopped (the survivor starts nothing while it runs).
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
        ).exclude(merged_from__status=Deal.Status.RUNNING)
        if not pending.exists():
            # (An archived deal waits pending for its restore; a survivor, for the deal
            # merged into it to stop, which then sends it again.)
            return None


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
            # Deleted or merged in HubSpot: a restore sends it again. One whose worker died
            # mid-stage waits pending, like one stopped at a boundary.
            deal_release(deal_id=deal.id, now=timezone.now())
            return None
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
        if _merged_away_running(deal):
            # A deal HubSpot merged into this one is finishing its stage: the deals of one
            # merge never run at once. It wakes this one when it stops (_wake_survivor).
            return None
        # A re-run or retry may have reset the deal since we read it: then read again.
        if deal_claim(deal=deal, now=timezone.now()):
            break
    return _run_stages(deal)


def _merged_away_running(deal: Deal) -> bool:
    """Whether a deal merged into this one is running. Sound without a lock: a merged-away
    deal claimed after this check finds itself merged at its first boundary and runs
    nothing (the merge committed before this deal could be its survivor)."""
    return Deal.objects.filter(merged_into_id=deal.id, status=Deal.Status.RUNNING).exists()


def _wake_survivor(deal_id: uuid.UUID) -> None:
    """Send the survivor of this deal's merge, pending, once this deal is not running."""
    survivor = (
        Deal.objects.filter(
            merged_from__id=deal_id,
            status=Deal.Status.PENDING,
            hubspot_state=Deal.HubspotState.ACTIVE,
        )
        .exclude(merged_from__status=Deal.Status.RUNNING)
        .values_list("id", "hubspot_deal_id")
        .first()
    )
    if survivor is not None:
        deal_enqueue(deal_id=survivor[0], hubspot_deal_id=survivor[1], reason="merged_deal_stopped")


def _may_go_on(deal: Deal) -> bool:
    """Active in HubSpot, and no deal merged into it running (one query)."""
    return (
        Deal.objects.filter(id=deal.id, hubspot_state=Deal.HubspotState.ACTIVE)
        .exclude(merged_from__status=Deal.Status.RUNNING)
        .exists()
    )


def _run_stages(deal: Deal) -> float | None:
    # The earlier stages' outputs, which later stages read: from the database only when
    # resuming past intake, then carried along as each stage returns.
    first = STAGE_ORDER.index(deal.current_stage)
    outputs = deal_stage_outputs(deal_id=deal.id, stages=STAGE_ORDER[:first]) if first else {}
    succeeded: PipelineRun | None = None  # closed in the same write as the next start
    result = RunResult()  # succeeded's
    for stage in STAGE_ORDER[first:]:
        if not _may_go_on(deal):
            # Deleted or merged away in HubSpot meanwhile: stop at this boundary, pending
            # here, so that a restore goes on from this stage (deals/services/lifecycle.py).
            # (Or a deal merged into this one runs: it wakes this one when it stops.)
            _stop_at_boundary(deal, succeeded, stage, result)
            return None
        registered = stage_get(stage)
        run = pipeline_run_start(
            deal=deal,
            stage=registered,
            now=timezone.now(),
            close_succeeded=succeeded,
            close_result=result,
        )
        if succeeded is not None:
            logger.info("stage_succeeded", extra=_log_fields(deal, succeeded))
        logger.info("stage_started", extra=_log_fields(deal, run))
        log = RunLog()
        output, error = _call_stage(deal, registered, outputs, log)
        if error is None:
            succeeded, result = run, RunResult.of(output, log)
            outputs[stage] = output.value if output else None
            continue
        retryable, message = error
        log.error("%s", message)
        return _fail(deal, run, message, retryable=retryable, result=RunResult.of(None, log))
    assert succeeded is not None  # STAGE_ORDER ends with done, which every deal reaches
    pipeline_run_end(
        deal=deal,
        run=succeeded,
        now=timezone.now(),
        run_status=PipelineRun.Status.SUCCEEDED,
        deal_status=Deal.Status.DONE,
        result=result,
    )
    logger.info("stage_succeeded", extra=_log_fields(deal, succeeded))
    logger.info(
        "pipeline_done", extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id}
    )
    return None


def _stop_at_boundary(
    deal: Deal, succeeded: PipelineRun | None, stage: str, result: RunResult
) -> None:
    now = timezone.now()
    if succeeded is not None:
        pipeline_run_end(
            deal=deal,
            run=succeeded,
            now=now,
            run_status=PipelineRun.Status.SUCCEEDED,
            deal_status=Deal.Status.PENDING,
            next_stage=stage,
            result=result,
        )
    else:
        deal_release(deal_id=deal.id, now=now)
    logger.info(
        "pipeline_stopped_archived",
        extra={"deal_id": deal.id, "hubspot_deal_id": deal.hubspot_deal_id, "stage": stage},
    )


def _call_stage(
    deal: Deal, stage: RegisteredStage, outputs: dict, log: RunLog
) -> tuple[StageOutput | None, tuple[bool, str] | None]:
    """Run one stage (the one its run recorded the version and params of): (its output,
    None) when it succeeded, else (None, (retryable, message))."""
    try:
        return stage_call(stage=stage, deal=deal, outputs=outputs, log=log), None
    except RetryableStageError as exc:
        return None, (True, str(exc) or type(exc).__name__)
    except StageError as exc:
        return None, (False, str(exc) or type(exc).__name__)
    except SoftTimeLimitExceeded:
        limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
        return None, (False, f"timed out: the job passed its {limit}s limit")
    except (OperationalError, InterfaceError):
        raise  # not the stage's fault: see deal_process
    except Exception as exc:  # a bug in a stage fails the deal, with the reason on the run
        logger.exception("stage_crashed", extra={"deal_id": deal.id, "stage": stage.name})
        return None, (False, f"{type(exc).__name__}: {exc}")


def _record_lost_connection(deal_id: uuid.UUID, exc: Exception) -> None:
    """Close the deal's open run with the real reason, on a fresh connection if the
    database is back; if not, the next attempt closes it as "worker lost"."""
    connection.close()  # the broken connection, and the deal's lock with it
    try:
        with deal_lock(deal_id) as taken:
            if taken:  # nobody took the deal over meanwhile: the open run is ours
                pipeline_run_fail_open(
                    deal_id=deal_id,
                    error=f"database connection lost: {exc}".strip(),
                    now=timezone.now(),
                )
    except DatabaseError:
        pass  # still down
    finally:
        connection.close()  # so the caller's lock release does not run on this connection


def _fail(
    deal: Deal, run: PipelineRun, message: str, *, retryable: bool, result: RunResult
) -> float | None:
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
        result=result,
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
