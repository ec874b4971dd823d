"""Writes to deals that start or restart the pipeline. Views, admin actions and tasks call these."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from .locks import deal_lock
from .models import Deal, PipelineRun, Stage
from .pipeline import deal_close_lost_runs

logger = logging.getLogger(__name__)


class DealNotFound(Exception):
    pass


class DealConflict(Exception):
    """The deal is not in a state that allows the action (e.g. it is being processed)."""


def deal_send_now(*, deal_id: uuid.UUID | str, hubspot_deal_id: str, reason: str) -> bool:
    """Hand `process_deal` to the broker now. If that fails (broker down), log it and
    leave the deal to the sweeper, which sends it again later."""
    from .tasks import process_deal  # tasks import services; keep the cycle at call time

    fields = {"deal_id": deal_id, "hubspot_deal_id": hubspot_deal_id, "reason": reason}
    try:
        process_deal.delay(str(deal_id))
    except Exception as exc:
        logger.error("deal_enqueue_failed", extra={**fields, "error": repr(exc)})
        return False
    logger.info("deal_enqueued", extra=fields)
    return True


def deal_enqueue(*, deal_id: uuid.UUID, hubspot_deal_id: str, reason: str) -> None:
    """Send `process_deal` once the current transaction commits, so no job ever sees an
    uncommitted row."""
    transaction.on_commit(
        lambda: deal_send_now(deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason=reason)
    )


def deals_enqueue(*, deals: Sequence[tuple[uuid.UUID, str]], reason: str) -> None:
    """Send `process_deal` for many deals once the transaction commits, through one fan-out
    job: a sync page of 200 new deals costs the sync one broker round trip, not 200."""
    from .tasks import enqueue_deals

    payload = [[str(deal_id), hubspot_deal_id] for deal_id, hubspot_deal_id in deals]
    if not payload:
        return

    def send() -> None:
        try:
            enqueue_deals.delay(payload, reason)
        except Exception as exc:
            logger.error(
                "deal_enqueue_failed",
                extra={"deals": len(payload), "reason": reason, "error": repr(exc)},
            )

    transaction.on_commit(send)


def _restart(deal_id: uuid.UUID, *, from_status: list[str], stage: str | None, reason: str) -> Deal:
    now = timezone.now()
    changes = {"status": Deal.Status.PENDING, "enqueued_at": now, "updated_at": now}
    if stage is not None:
        changes["current_stage"] = stage
    with transaction.atomic():
        # Conditional update: a deal a worker has claimed (status running) is never reset
        # under it, whoever else is clicking at the same moment.
        if not Deal.objects.filter(id=deal_id, status__in=from_status).update(**changes):
            deal = Deal.objects.filter(id=deal_id).first()
            if deal is None:
                raise DealNotFound(f"no deal with id {deal_id}")
            if deal.status == Deal.Status.RUNNING:
                raise DealConflict("the deal is being processed; try again when it has finished")
            raise DealConflict(f"the deal is {deal.status}; only a failed deal can be retried")
        deal = Deal.objects.get(id=deal_id)
        deal_enqueue(deal_id=deal.id, hubspot_deal_id=deal.hubspot_deal_id, reason=reason)
    return deal


def deal_rerun(*, deal_id: uuid.UUID) -> Deal:
    """Start the deal over at intake. Earlier runs stay in its history."""
    return _restart(
        deal_id,
        from_status=[Deal.Status.PENDING, Deal.Status.DONE, Deal.Status.FAILED],
        stage=Stage.INTAKE,
        reason="rerun",
    )


def deal_retry(*, deal_id: uuid.UUID) -> Deal:
    """Resume a failed deal at the stage that failed."""
    return _restart(deal_id, from_status=[Deal.Status.FAILED], stage=None, reason="retry")


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
