"""Recording the pipeline's progress: each step of a deal's pipeline is one atomic write.

A step closes the run that just ended, opens the next one and moves the deal, all or
nothing, so a worker killed at any instant leaves a state the next attempt can read: a run
still `running` means "interrupted here". Each step is a single statement (data-modifying
CTEs): no BEGIN/COMMIT round trips, which is most of the cost of a stub stage.
"""

import uuid
from datetime import datetime
from typing import Any

from django.db import connection

from .models import Deal, PipelineRun, Stage
from .writeback import QUEUE_OUTCOME_SQL, queue_outcome

_START_SQL = """
WITH closed AS (
    UPDATE pipeline_runs SET status = 'succeeded', ended_at = %(now)s
    WHERE id = %(close_id)s AND status = 'running'
), moved AS (
    UPDATE deals SET current_stage = %(stage)s, updated_at = %(now)s WHERE id = %(deal_id)s
)
INSERT INTO pipeline_runs (id, deal_id, pass_id, stage, status, started_at, attempt)
SELECT %(run_id)s, %(deal_id)s, %(pass_id)s, %(stage)s, 'running', %(now)s,
    COALESCE(MAX(attempt), 0) + 1
FROM pipeline_runs WHERE deal_id = %(deal_id)s AND stage = %(stage)s
RETURNING attempt
"""

_END_SQL = f"""
WITH closed AS (
    UPDATE pipeline_runs
    SET status = %(run_status)s, ended_at = %(now)s, error = %(error)s, retry_at = %(retry_at)s
    WHERE id = %(run_id)s AND status = 'running'
), queued AS ({QUEUE_OUTCOME_SQL})
UPDATE deals SET status = %(deal_status)s, current_stage = %(stage)s, updated_at = %(now)s,
    enqueued_at = COALESCE(%(retry_at)s, enqueued_at)
WHERE id = %(deal_id)s
"""


def pipeline_run_start(
    *, deal: Deal, stage: str, now: datetime, close_succeeded: PipelineRun | None = None
) -> PipelineRun:
    """Open a run of `stage` (attempt = previous attempts + 1) in the deal's current pass
    and move the deal to it, closing `close_succeeded`, the stage that just ended, in the
    same write."""
    assert deal.current_pass_id is not None  # a claimed deal is on a pass (pipeline.py)
    run = PipelineRun(
        id=uuid.uuid4(),
        deal=deal,
        pipeline_pass_id=deal.current_pass_id,
        stage=stage,
        started_at=now,
    )
    params: dict[str, Any] = {
        "now": now,
        "close_id": close_succeeded.id if close_succeeded else None,
        "stage": stage,
        "deal_id": deal.id,
        "pass_id": deal.current_pass_id,
        "run_id": run.id,
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
) -> None:
    """Close `run` and set the deal's status in one write: done after the last stage,
    failed at the stage that failed, or pending until `retry_at` when a transient failure
    will be tried again (the sweeper then counts the deal as sent at `retry_at`), or pending
    at `next_stage` when the pipeline stopped at a stage boundary. A done or
    failed outcome is queued for HubSpot in that same write (deals/writeback.py)."""
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
    }
    with connection.cursor() as cursor:
        cursor.execute(_END_SQL, params)
