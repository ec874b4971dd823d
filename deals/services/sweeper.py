"""The sweeper: recovery of deals whose job was lost (a worker killed mid-stage, a broker
restarted empty, an enqueue that failed after its commit), without re-sending the ones
whose job is only waiting behind a backlog.

Beat runs it every PIPELINE_SWEEP_INTERVAL_SECONDS. One sweep recovers every lost deal,
however many, in batches (each its own short transaction), so recovery after a loss is
bounded by PIPELINE_STUCK_AFTER_SECONDS plus one interval.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..broker import oldest_waiting_sent_at
from ..locks import deal_lock
from ..models import Deal, PipelinePass, PipelineRun
from .enqueue import deals_enqueue
from .passes import deal_pass_start
from .runs import deal_close_lost_runs

logger = logging.getLogger(__name__)

# Between a deal's `enqueued_at` being written and its job reaching the broker: commit,
# then the send (deals/services/enqueue.py moves `enqueued_at` again at a delayed fan-out).
# A job sent within this slack of the oldest waiting one may still be waiting behind it.
SEND_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class SweepResult:
    lost_runs_closed: int
    deals_enqueued: int


def deals_sweep_stuck(*, batch_size: int = 1000) -> SweepResult:
    """Close runs dead workers left open, then send again every deal whose job was lost.

    - Runs left `running` past the job's hard time limit belong to a dead worker (no stage
      outlives its job): they are closed as failed with the error "worker lost".
    - A deal pending or running, untouched for PIPELINE_STUCK_AFTER_SECONDS, is sent again
      only if its job is not still waiting in the broker: sent before the oldest job still
      waiting there (deals/broker.py), or nothing is waiting at all. A duplicate job is
      harmless anyway: the runner takes the deal's lock and skips a deal not waiting.
    """
    now = timezone.now()
    closed, reopened = _close_lost_runs(now=now)
    try:
        oldest_waiting = oldest_waiting_sent_at()
    except Exception as exc:  # the broker is down: sends would fail too; next sweep
        logger.warning("sweep_broker_unavailable", extra={"error": repr(exc)})
        return SweepResult(lost_runs_closed=closed, deals_enqueued=0)
    cutoff = now - timedelta(seconds=settings.PIPELINE_STUCK_AFTER_SECONDS)
    if oldest_waiting is not None:
        cutoff = min(cutoff, oldest_waiting - SEND_SLACK)
    lost = Deal.objects.alias(last_sent=Coalesce("enqueued_at", "created_at")).filter(
        last_sent__lt=cutoff
    )
    # A deal deleted or merged away in HubSpot waits pending on purpose (a restore sends it).
    waiting = lost.filter(status=Deal.Status.PENDING, hubspot_state=Deal.HubspotState.ACTIVE)
    enqueued = _resend_pending(waiting, now, batch_size)
    # Running and idle, or its dead worker's runs just closed above (which moved its
    # updated_at: the queue shows them).
    abandoned = lost.filter(Q(updated_at__lt=cutoff) | Q(id__in=reopened))
    enqueued += _resend_abandoned_running(abandoned.filter(status=Deal.Status.RUNNING), now)
    if closed or enqueued:
        logger.warning(
            "deals_swept", extra={"lost_runs_closed": closed, "deals_enqueued": enqueued}
        )
    return SweepResult(lost_runs_closed=closed, deals_enqueued=enqueued)


def _resend_pending(lost: QuerySet[Deal], now: datetime, batch_size: int) -> int:
    sent = 0
    while True:
        with transaction.atomic():
            # Who else races here: a second beat's sweeper (SKIP LOCKED gives each its own
            # deals) and the deal's own job claiming it (the status filter re-checks it).
            batch = list(
                lost.select_for_update(skip_locked=True)
                .order_by()
                .values_list("id", "hubspot_deal_id")[:batch_size]
            )
            if not batch:
                return sent
            Deal.objects.filter(id__in=[deal_id for deal_id, _ in batch]).update(enqueued_at=now)
            deals_enqueue(deals=batch, reason="sweep")  # one fan-out job per batch
        sent += len(batch)


def _resend_abandoned_running(abandoned: QuerySet[Deal], now: datetime) -> int:
    # Few in any case (at most one per worker process that died), one at a time: a deal
    # whose lock is held has a live worker on it, and is left alone.
    sent = 0
    for deal_id, hubspot_deal_id in abandoned.order_by().values_list("id", "hubspot_deal_id"):
        with deal_lock(deal_id) as taken:
            if not taken:
                continue
            # Its worker died mid-pass: a new pass, from the stage it stopped at.
            deal = Deal.objects.filter(id=deal_id, status=Deal.Status.RUNNING).first()
            if deal is None:
                continue
            with transaction.atomic():
                started = deal_pass_start(
                    deal_id=deal_id,
                    trigger=PipelinePass.Trigger.SWEEPER,
                    from_stage=deal.current_stage,
                    now=now,
                    changes={"enqueued_at": now},
                    only_if={"status": Deal.Status.RUNNING, "current_stage": deal.current_stage},
                )
                if started is not None:
                    deals_enqueue(deals=[(deal_id, hubspot_deal_id)], reason="sweep")
                    sent += 1
    return sent


def _close_lost_runs(*, now: datetime) -> tuple[int, list[uuid.UUID]]:
    """Close the runs dead workers left open: (how many, the deals they were on)."""
    run_cutoff = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    lost_deal_ids: list[uuid.UUID] = list(
        PipelineRun.objects.filter(status=PipelineRun.Status.RUNNING, started_at__lt=run_cutoff)
        .order_by()  # no default ordering in the DISTINCT
        .values_list("deal_id", flat=True)
        .distinct()
    )
    closed, deals = 0, []
    for deal_id in lost_deal_ids:
        with deal_lock(deal_id) as taken:
            # Who else races here: the deal's own redelivered job, which closes the same
            # runs under the same lock; without the lock we leave the deal to it.
            deal = Deal.objects.filter(id=deal_id, status=Deal.Status.RUNNING).first()
            if taken and deal is not None:
                closed += deal_close_lost_runs(deal=deal)
                deals.append(deal_id)
    return closed, deals
