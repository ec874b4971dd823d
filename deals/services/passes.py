"""Passes: each time a deal is sent through the pipeline, what started it, who, and when.

A pass starts when a deal is (re)started: new from HubSpot, a HubSpot change to a failed
deal, an operator's re-run or retry (one deal or in bulk), or the sweeper recovering a
deal whose worker died. `deals.current_pass` names the pass the deal is on; the runner
records every run in it. Ingestion and bulk actions start passes in their own batch
statements; this is the one-deal way.
"""

import uuid
from datetime import datetime

from django.db import transaction

from ..models import Deal, PipelinePass


def deal_pass_start(
    *,
    deal_id: uuid.UUID,
    trigger: str,
    from_stage: str,
    now: datetime,
    requested_by: str = "",
    changes: dict | None = None,
    only_if: dict | None = None,
) -> PipelinePass | None:
    """Start a pass of the deal and make it the deal's current one, applying `changes` to
    the deal in the same transaction, if the deal matches `only_if` (filters). Returns the
    pass, or None when the deal did not match (then nothing is written)."""
    new_pass = PipelinePass(
        id=uuid.uuid4(),
        deal_id=deal_id,
        trigger=trigger,
        requested_by=requested_by,
        started_at=now,
        from_stage=from_stage,
    )
    with transaction.atomic():
        # Conditional update: whoever else changes the deal meanwhile makes this a no-op.
        moved = Deal.objects.filter(id=deal_id, **(only_if or {})).update(
            current_pass_id=new_pass.id, **(changes or {})
        )
        if not moved:
            return None
        new_pass.save(force_insert=True)
    return new_pass
