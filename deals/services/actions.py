"""What operators ask of a deal: start it over, or resume it at the stage that failed."""

import uuid

from django.db import transaction
from django.utils import timezone

from vcc.errors import Conflict, NotFound

from ..models import Deal, Stage
from .enqueue import deal_enqueue


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
                raise NotFound(f"No deal with id {deal_id}.")
            if deal.status == Deal.Status.RUNNING:
                raise Conflict("The deal is being processed; try again when it has finished.")
            raise Conflict(f"The deal is {deal.status}; only a failed deal can be retried.")
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
