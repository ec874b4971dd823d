"""What operators ask of a deal: start it over, or resume it at the stage that failed.

Each starts a new pass (who asked, when) and goes to the operator lane, which every worker
serves before the backlog.
"""

import uuid

from django.utils import timezone

from vcc.errors import Conflict, NotFound
from vcc.queues import OPERATOR_QUEUE

from ..models import Deal, PipelinePass, Stage
from ..rules import Action, deal_action_refusal
from .enqueue import deal_enqueue
from .passes import deal_pass_start


def _restart(
    deal_id: uuid.UUID,
    *,
    action: Action,
    stage: str | None,
    trigger: str,
    requested_by: str,
) -> Deal:
    for _ in range(3):
        now = timezone.now()
        deal = (
            Deal.objects.filter(id=deal_id)
            .select_related("merged_into")
            .only(
                "status",
                "current_stage",
                "hubspot_state",
                "hubspot_state_at",
                "merged_into__hubspot_deal_id",
            )
            .first()
        )
        if deal is None:
            raise NotFound(f"No deal with id {deal_id}.")
        refusal = deal_action_refusal(
            action=action,
            status=deal.status,
            hubspot_state=deal.hubspot_state,
            merged_into=deal.merged_into.hubspot_deal_id if deal.merged_into else None,
        )
        if refusal is not None:
            raise Conflict(refusal.reason)
        changes = {"status": Deal.Status.PENDING, "enqueued_at": now, "updated_at": now}
        if stage is not None:
            changes["current_stage"] = stage
        # Conditional on what we read: a deal a worker claimed meanwhile (running) is never
        # reset under it, and the pass records the stage the deal really resumes at.
        started = deal_pass_start(
            deal_id=deal_id,
            trigger=trigger,
            from_stage=stage or deal.current_stage,
            now=now,
            requested_by=requested_by,
            changes=changes,
            only_if={"status": deal.status, "current_stage": deal.current_stage},
        )
        if started is not None:
            deal = Deal.objects.get(id=deal_id)
            # Sent once the pass has committed (here, or with the caller's transaction).
            deal_enqueue(
                deal_id=deal.id,
                hubspot_deal_id=deal.hubspot_deal_id,
                reason=trigger,
                lane=OPERATOR_QUEUE,
            )
            return deal
    raise Conflict("The deal kept changing while we tried; try again in a moment.")


def deal_rerun(*, deal_id: uuid.UUID, requested_by: str) -> Deal:
    """Start the deal over at intake, ahead of the backlog. Earlier runs stay in its
    history, under their own passes."""
    return _restart(
        deal_id,
        action="rerun",
        stage=Stage.INTAKE,
        trigger=PipelinePass.Trigger.RERUN,
        requested_by=requested_by,
    )


def deal_retry(*, deal_id: uuid.UUID, requested_by: str) -> Deal:
    """Resume a failed deal at the stage that failed, ahead of the backlog."""
    return _restart(
        deal_id,
        action="retry",
        stage=None,
        trigger=PipelinePass.Trigger.RETRY,
        requested_by=requested_by,
    )
