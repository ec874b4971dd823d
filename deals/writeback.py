"""Queuing a deal's outcome for HubSpot, in the same write as the status change.

`QUEUE_OUTCOME_SQL` is one INSERT ... ON CONFLICT into `deal_writebacks`: runs.py embeds it
in the statement that ends a pipeline run, and `deal_writeback_queue` runs it on its own
inside the caller's transaction (the lost-worker give-up). Either way the outcome is
committed with the status or not at all. With HUBSPOT_WRITEBACK_ENABLED off it writes
nothing (`queue_outcome` is false).

A new outcome replaces the values, bumps `version`, resets the retries and queues the row
again. A send in flight keeps its claim (claim_token, claimed_at): no second loop takes the
row until that send has settled, and it settles only the version it sent (services/writeback).
"""

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from .models import Deal

QUEUE_OUTCOME_SQL = """
INSERT INTO deal_writebacks (
    deal_id, outcome_status, outcome_stage, finished_at, state, version, retry_count,
    last_error, queued_at, updated_at
)
SELECT %(deal_id)s, %(deal_status)s, %(stage)s, %(now)s, 'queued', 1, 0, '', %(now)s, %(now)s
WHERE %(queue_outcome)s
ON CONFLICT (deal_id) DO UPDATE SET
    outcome_status = EXCLUDED.outcome_status,
    outcome_stage = EXCLUDED.outcome_stage,
    finished_at = EXCLUDED.finished_at,
    state = 'queued',
    version = deal_writebacks.version + 1,
    retry_count = 0,
    next_retry_at = NULL,
    last_error = '',
    queued_at = CASE WHEN deal_writebacks.state IN ('queued', 'processing')
        THEN deal_writebacks.queued_at ELSE EXCLUDED.queued_at END,
    updated_at = EXCLUDED.updated_at
"""

FINAL_STATUSES = (Deal.Status.DONE, Deal.Status.FAILED)


def queue_outcome(deal_status: str) -> bool:
    """Whether a status change to `deal_status` queues the outcome for HubSpot."""
    return settings.HUBSPOT_WRITEBACK_ENABLED and deal_status in FINAL_STATUSES


def deal_writeback_queue(
    *, deal_id: uuid.UUID, deal_status: str, stage: str, now: datetime
) -> None:
    """Queue this outcome; call inside the transaction that sets the deal's status."""
    params: dict[str, Any] = {
        "deal_id": deal_id,
        "deal_status": deal_status,
        "stage": stage,
        "now": now,
        "queue_outcome": queue_outcome(deal_status),
    }
    with connection.cursor() as cursor:
        cursor.execute(QUEUE_OUTCOME_SQL, params)
