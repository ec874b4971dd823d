"""The pipeline's writes (the runner, deals/pipeline.py, decides; these record): claiming
a deal, each step of its pipeline, and closing what a dead worker left open.

Each step is one atomic write.
A step closes the run that just ended, opens the next one and moves the deal, all or
nothing, so a worker killed at any instant leaves a state the next attempt can read: a run
still `running` means "interrupted here". Each step is a single statement (data-modifying
CTEs): no BEGIN/COMMIT round trips, which is most of the cost of a stub stage.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..models import Deal, PipelineRun, Stage
from ..stages import RegisteredStage, RunLog, StageOutput
from .writeback import QUEUE_OUTCOME_SQL, deal_writeback_queue, queue_outcome

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost"

# What a closing run stores of its stage's call (RunResult).
_RESULT_SET = """output = %(output)s::jsonb, output_truncated = %(output_truncated)s,
    log_lines = %(log_lines)s::jsonb, log_lines_dropped = %(log_lines_dropped)s"""

_START_SQL = f"""
WITH closed AS (
    UPDATE pipeline_runs SET status = 'succeeded', ended_at = %(now)s, {_RESULT_SET}
    WHERE id = %(close_id)s AND status = 'running'
), moved AS (
    UPDATE deals SET current_stage = %(stage)s, updated_at = %(now)s WHERE id = %(deal_id)s
)
INSERT INTO pipeline_runs (id, deal_id, pass_id, stage, status, started_at, attempt,
    stage_version, params)
SELECT %(run_id)s, %(deal_id)s, %(pass_id)s, %(stage)s, 'running', %(now)s,
    COALESCE(MAX(attempt), 0) + 1, %(stage_version)s, %(params)s::jsonb
FROM pipeline_runs WHERE deal_id = %(deal_id)s AND stage = %(stage)s
RETURNING attempt
"""

_END_SQL = f"""
WITH closed AS (
    UPDATE pipeline_runs
    SET status = %(run_status)s, ended_at = %(now)s, error = %(error)s, retry_at = %(retry_at)s,
        {_RESULT_SET}
    WHERE id = %(run_id)s AND status = 'running'
), queued AS ({QUEUE_OUTCOME_SQL})
UPDATE deals SET status = %(deal_status)s, current_stage = %(stage)s, updated_at = %(now)s,
    enqueued_at = COALESCE(%(retry_at)s, enqueued_at)
WHERE id = %(deal_id)s
"""


@dataclass(frozen=True)
class RunResult:
    """What a run keeps of its stage's call: the output (JSON text, None for none) and the
    log lines (JSON text), with what the caps left out."""

    output_json: str | None = None
    output_truncated: bool = False
    log_lines_json: str = "[]"
    log_lines_dropped: int = 0

    @classmethod
    def of(cls, output: StageOutput | None, log: RunLog) -> "RunResult":
        return cls(
            output_json=output.json if output else None,
            output_truncated=output.truncated if output else False,
            log_lines_json=json.dumps(log.lines),
            log_lines_dropped=log.dropped,
        )

    def sql_params(self) -> dict[str, Any]:
        return {
            "output": self.output_json,
            "output_truncated": self.output_truncated,
            "log_lines": self.log_lines_json,
            "log_lines_dropped": self.log_lines_dropped,
        }


_NO_RESULT = RunResult()


def pipeline_run_start(
    *,
    deal: Deal,
    stage: RegisteredStage,
    now: datetime,
    close_succeeded: PipelineRun | None = None,
    close_result: RunResult = _NO_RESULT,
) -> PipelineRun:
    """Open a run of `stage` (attempt = previous attempts + 1) in the deal's current pass,
    with the stage's version and params, and move the deal to it, closing
    `close_succeeded`, the stage that just ended, with its result, in the same write."""
    assert deal.current_pass_id is not None  # a claimed deal is on a pass (pipeline.py)
    run = PipelineRun(
        id=uuid.uuid4(),
        deal=deal,
        pipeline_pass_id=deal.current_pass_id,
        stage=stage.name,
        started_at=now,
        stage_version=stage.version,
        params=dict(stage.params),
    )
    params: dict[str, Any] = {
        "now": now,
        "close_id": close_succeeded.id if close_succeeded else None,
        "stage": stage.name,
        "deal_id": deal.id,
        "pass_id": deal.current_pass_id,
        "run_id": run.id,
        "stage_version": stage.version,
        "params": stage.params_json,
        **close_result.sql_params(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_START_SQL, params)
        (run.attempt,) = cursor.fetchone()
    return run


def pipeline_run_end(
    *,
    deal: Deal,
    run: PipelineRun,
    now: datetime,
    run_status: str,
    deal_status: str,
    error: str | None = None,
    retry_at: datetime | None = None,
    next_stage: str | None = None,
    result: RunResult = _NO_RESULT,
) -> None:
    """Close `run` and set the deal's status in one write: done after the last stage,
    failed at the stage that failed, or pending until `retry_at` when a transient failure
    will be tried again (the sweeper then counts the deal as sent at `retry_at`), or pending
    at `next_stage` when the pipeline stopped at a stage boundary; with what the stage's
    call left (`result`: its output, its log lines). A done or
    failed outcome is queued for HubSpot in that same write (writeback.py)."""
    stage = Stage.DONE if deal_status == Deal.Status.DONE else next_stage or run.stage
    params: dict[str, Any] = {
        "now": now,
        "run_status": run_status,
        "error": error,
        "retry_at": retry_at,
        "run_id": run.id,
        "deal_status": deal_status,
        "stage": stage,
        "deal_id": deal.id,
        "queue_outcome": queue_outcome(deal_status),
        **result.sql_params(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_END_SQL, params)


def deal_claim(*, deal: Deal, now: datetime) -> bool:
    """Mark the deal running, if it is still as `deal` was read. Who else writes here: a
    re-run or retry (actions, bulk) may reset a pending deal (a new pass, maybe a new
    stage) between the runner's read and this update; then the runner reads again."""
    claimed = Deal.objects.filter(
        id=deal.id,
        status=deal.status,
        current_stage=deal.current_stage,
        current_pass_id=deal.current_pass_id,
    ).update(status=Deal.Status.RUNNING, updated_at=now)
    return claimed == 1


def deal_release(*, deal_id: uuid.UUID, now: datetime) -> None:
    """Put a running deal back to pending where it is, its run already closed: it stopped
    at a boundary, or a restore will send it again."""
    Deal.objects.filter(id=deal_id, status=Deal.Status.RUNNING).update(
        status=Deal.Status.PENDING, updated_at=now
    )


def pipeline_run_fail_open(*, deal_id: uuid.UUID, error: str, now: datetime) -> int:
    """Close the deal's open run as failed with `error` (the database connection was lost
    mid-stage); returns how many were closed. Call only while holding the deal's lock."""
    with transaction.atomic():
        closed = PipelineRun.objects.filter(
            deal_id=deal_id, status=PipelineRun.Status.RUNNING
        ).update(status=PipelineRun.Status.FAILED, ended_at=now, error=error)
        if closed:  # the queue's change marker is the deal's row
            Deal.objects.filter(id=deal_id).update(updated_at=now)
    return closed


def deal_close_lost_runs(*, deal: Deal) -> int:
    """Close the runs a dead worker left `running`; returns how many. Call only while
    holding the deal's lock.

    Fails the deal when its stage has now lost its worker PIPELINE_MAX_LOST_WORKERS times
    in a row: a stage that kills its worker would otherwise be delivered again forever.
    """
    now = timezone.now()
    closed = pipeline_run_fail_open(deal_id=deal.id, error=WORKER_LOST, now=now)
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
