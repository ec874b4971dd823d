"""Reads of deals, shaped for the API and the admin."""

import uuid

from django.db.models import Prefetch

from .models import Deal, PipelineRun


def deal_get_with_runs(*, deal_id: uuid.UUID) -> Deal | None:
    """The deal with every run of every stage, oldest first (two queries)."""
    runs = PipelineRun.objects.order_by("started_at", "attempt", "id")
    return (
        Deal.objects.prefetch_related(Prefetch("pipeline_runs", queryset=runs))
        .filter(id=deal_id)
        .first()
    )
