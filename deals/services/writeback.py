"""The write-back outbox (`deal_writebacks`): outcomes queued as the pipeline ends, then
claimed and settled by the loop that sends them to HubSpot (hubspot/services/writeback.py).
Staff retry rows that gave up.

Queuing: `QUEUE_OUTCOME_SQL` is one INSERT ... ON CONFLICT, embedded in the statement that
ends a pipeline run (runs.py) and run on its own by `deal_writeback_queue` inside the
caller's transaction: the outcome commits with the status or not at all. A new outcome
replaces the values, bumps `version`, resets the retries and queues the row again. With
HUBSPOT_WRITEBACK_ENABLED off nothing is queued (`queue_outcome` is false).

Who races here, and why it is safe:
- Two loops (two beat ticks, the command beside beat): a claim takes rows with
  SELECT ... FOR UPDATE SKIP LOCKED and stamps them with its token in the same
  transaction, so each row goes to one loop; a claimed row is not taken again until it is
  settled, or its claim is older than the lease (the loop died mid-send).
- The pipeline finishing the deal again while its send is in flight: the new outcome bumps
  `version` and queues the row (keeping the claim). Settling then marks complete only the
  version that was sent; the newer one is sent by the next pass, after this send is over,
  so HubSpot never ends with the older values.
- A loop settling after its lease ran out and another loop took the row: settling matches
  the claim token, so the late loop changes nothing.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from ..models import Deal, DealWriteback

State = DealWriteback.State

QUEUE_OUTCOME_SQL = """
INSERT INTO deal_writebacks (
    deal_id, outcome_status, outcome_stage, finished_at, state, version, retry_count,
    last_error, queued_at, updated_at
)
SELECT %(deal_id)s, %(deal_status)s, %(stage)s, %(now)s, 'queued', 1, 0, '', %(now)s, %(now)s
WHERE %(queue_outcome)s
    -- Never for a deal deleted or merged away in HubSpot (a restore queues it then).
    AND EXISTS (SELECT 1 FROM deals WHERE id = %(deal_id)s AND hubspot_state = 'active')
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


@dataclass(frozen=True)
class OutcomeToSend:
    deal_id: uuid.UUID
    hubspot_deal_id: str
    version: int
    status: str
    stage: str
    finished_at: datetime


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    outcomes: list[OutcomeToSend]


_CLAIM_SQL = """
WITH due AS (
    SELECT w.deal_id FROM deal_writebacks AS w JOIN deals AS d ON d.id = w.deal_id
    WHERE w.state IN ('queued', 'processing')
      AND (w.next_retry_at IS NULL OR w.next_retry_at <= %(now)s)
      AND (w.claimed_at IS NULL OR w.claimed_at < %(lease_cutoff)s)
      -- Never to a deal deleted or merged away in HubSpot: one queued as its last stage
      -- ended waits for a restore (lifecycle.py drops the others).
      AND d.hubspot_state = 'active'
    ORDER BY w.queued_at
    LIMIT %(limit)s
    FOR UPDATE OF w SKIP LOCKED
)
UPDATE deal_writebacks AS w
SET state = 'processing', claim_token = %(token)s, claimed_at = %(now)s,
    claimed_version = w.version, updated_at = %(now)s
FROM due, deals AS d
WHERE w.deal_id = due.deal_id AND d.id = w.deal_id
RETURNING w.deal_id, d.hubspot_deal_id, w.version, w.outcome_status, w.outcome_stage,
    w.finished_at
"""

# A send that succeeded: complete, unless a newer outcome arrived meanwhile (then it stays
# queued with the newer values, and only the claim is released).
_SENT_SQL = """
UPDATE deal_writebacks
SET state = CASE WHEN version = claimed_version THEN 'complete' ELSE state END,
    sent_at = CASE WHEN version = claimed_version THEN %(now)s ELSE sent_at END,
    retry_count = CASE WHEN version = claimed_version THEN 0 ELSE retry_count END,
    last_error = CASE WHEN version = claimed_version THEN '' ELSE last_error END,
    claim_token = NULL, claimed_at = NULL, claimed_version = NULL, updated_at = %(now)s
WHERE claim_token = %(token)s AND deal_id = ANY(%(deal_ids)s)
"""

# A send that failed: retried after a backoff until the retries are spent (then error),
# or given up at once (`final`: HubSpot has no such deal). A newer outcome that arrived
# meanwhile is sent next without waiting: it has its own retries.
_FAILED_SQL = """
UPDATE deal_writebacks
SET state = CASE
        WHEN version <> claimed_version THEN 'queued'
        WHEN %(final)s OR retry_count >= %(max_retries)s THEN 'error'
        ELSE 'queued' END,
    next_retry_at = CASE
        WHEN version <> claimed_version THEN NULL
        WHEN %(final)s OR retry_count >= %(max_retries)s THEN NULL
        ELSE %(now)s + make_interval(secs => LEAST(
            %(backoff)s * power(2, retry_count), %(backoff_max)s)) END,
    retry_count = CASE WHEN version <> claimed_version THEN retry_count
        ELSE retry_count + 1 END,
    last_error = %(error)s,
    claim_token = NULL, claimed_at = NULL, claimed_version = NULL, updated_at = %(now)s
WHERE claim_token = %(token)s AND deal_id = ANY(%(deal_ids)s)
"""


# A claim whose sender died mid-send, on a deal since deleted or merged away in HubSpot:
# the claim above never takes it again, so it goes, as the deletion's or the merge's drop
# would have taken it had it not been in flight (a restore queues the outcome again).
_DROP_LAPSED_SQL = """
DELETE FROM deal_writebacks AS w USING deals AS d
WHERE d.id = w.deal_id AND d.hubspot_state <> 'active'
  AND w.state = 'processing' AND w.claimed_at < %(lease_cutoff)s
"""


def deal_writebacks_claim(*, limit: int, now: datetime, lease_seconds: float) -> Claim:
    """Take up to `limit` outcomes due for sending, oldest first, for this caller alone."""
    token = uuid.uuid4()
    params: dict[str, Any] = {
        "now": now,
        "lease_cutoff": now - timedelta(seconds=lease_seconds),
        "limit": limit,
        "token": token,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DROP_LAPSED_SQL, params)
        cursor.execute(_CLAIM_SQL, params)
        rows = cursor.fetchall()
    outcomes = [
        OutcomeToSend(
            deal_id=deal_id,
            hubspot_deal_id=hubspot_deal_id,
            version=version,
            status=status,
            stage=stage,
            finished_at=finished_at,
        )
        for deal_id, hubspot_deal_id, version, status, stage, finished_at in rows
    ]
    outcomes.sort(key=lambda outcome: outcome.finished_at)
    return Claim(token=token, outcomes=outcomes)


def deal_writebacks_mark_sent(
    *, token: uuid.UUID, deal_ids: Sequence[uuid.UUID], now: datetime
) -> int:
    """Settle these claimed rows as sent; returns how many were still this claim's."""
    if not deal_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_SENT_SQL, {"now": now, "token": token, "deal_ids": list(deal_ids)})
        return cursor.rowcount


def deal_writebacks_mark_failed(
    *,
    token: uuid.UUID,
    deal_ids: Sequence[uuid.UUID],
    error: str,
    now: datetime,
    max_retries: int,
    backoff_seconds: float,
    backoff_max_seconds: float = 6 * 3600,
    final: bool = False,
) -> int:
    """Settle these claimed rows as failed with `error`: sent again after
    backoff_seconds * 2^retries (capped), up to `max_retries` times after the first send;
    then, or at once when `final`, in error until staff retry. Returns how many were still
    this claim's."""
    if not deal_ids:
        return 0
    params: dict[str, Any] = {
        "now": now,
        "token": token,
        "deal_ids": list(deal_ids),
        "error": error[:2000],
        "final": final,
        "max_retries": max_retries,
        "backoff": backoff_seconds,
        "backoff_max": backoff_max_seconds,
    }
    with connection.cursor() as cursor:
        cursor.execute(_FAILED_SQL, params)
        return cursor.rowcount


def deal_writebacks_retry(*, deal_ids: Sequence[uuid.UUID], now: datetime) -> int:
    """Staff's "retry now": queue these outcomes for the next pass, with fresh retries.
    Rows already complete, or being sent, are left alone. Returns how many were queued."""
    return DealWriteback.objects.filter(
        deal_id__in=list(deal_ids), state__in=[State.ERROR, State.QUEUED], claimed_at=None
    ).update(state=State.QUEUED, retry_count=0, next_retry_at=None, updated_at=now)
