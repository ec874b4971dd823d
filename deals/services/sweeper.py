"""The sweeper: recovery of deals whose job was lost (a worker killed mid-stage, a broker
restarted empty, an enqueue that failed after its commit)."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..locks import deal_lock
from ..models import Deal, PipelineRun
from ..pipeline import deal_close_lost_runs
from .enqueue import deal_enqueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    lost_runs_closed: int
    deals_enqueued: int


def deals_sweep_stuck(*, batch_size: int = 1000) -> SweepResult:
    """Recover deals whose job was lost: a worker killed mid-stage, a broker restarted
    empty, an enqueue that failed after its commit.

    - Runs left `running` past the job's hard time limit belong to a dead worker (no
      stage outlives its job): they are closed as failed with the error "worker lost".
    - Deals pending or running with nothing happening for PIPELINE_STUCK_AFTER_SECONDS
      are enqueued again. A duplicate job is harmless: the runner takes the deal's lock
      and skips a deal that is not waiting.
    """
    now = timezone.now()
    run_cutoff = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    stuck_cutoff = now - timedelta(seconds=settings.PIPELINE_STUCK_AFTER_SECONDS)

    lost_deal_ids = list(
        PipelineRun.objects.filter(status=PipelineRun.Status.RUNNING, started_at__lt=run_cutoff)
        .order_by()  # no default ordering in the DISTINCT
        .values_list("deal_id", flat=True)
        .distinct()[:batch_size]
    )
    closed = 0
    for deal_id in lost_deal_ids:
        with deal_lock(deal_id) as taken:
            # Who else races here: the deal's own redelivered job, which closes the same
            # runs under the same lock; without the lock we leave the deal to it.
            deal = Deal.objects.filter(id=deal_id, status=Deal.Status.RUNNING).first()
            if taken and deal is not None:
                closed += deal_close_lost_runs(deal=deal)

    unfinished = Deal.objects.order_by().values_list("id", "hubspot_deal_id")
    candidates = list(
        unfinished.filter(status=Deal.Status.PENDING)
        .alias(last_sent=Coalesce("enqueued_at", "created_at"))
        .filter(last_sent__lt=stuck_cutoff)[:batch_size]
    )
    candidates += unfinished.filter(status=Deal.Status.RUNNING, updated_at__lt=stuck_cutoff)[
        :batch_size
    ]
    enqueued = 0
    for deal_id, hubspot_deal_id in candidates:
        with deal_lock(deal_id) as taken:
            if not taken:
                continue  # a live worker is on it
            with transaction.atomic():
                # Re-check under the lock: the deal may have finished since we listed it.
                if Deal.objects.filter(
                    id=deal_id, status__in=[Deal.Status.PENDING, Deal.Status.RUNNING]
                ).update(enqueued_at=now):
                    deal_enqueue(deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason="sweep")
                    enqueued += 1
    if closed or enqueued:
        logger.warning(
            "deals_swept", extra={"lost_runs_closed": closed, "deals_enqueued": enqueued}
        )
    return SweepResult(lost_runs_closed=closed, deals_enqueued=enqueued)
