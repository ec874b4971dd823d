"""Reads of sync runs, for the API and the admin."""

import uuid

from django.db.models import QuerySet

from .models import SyncRun


def sync_runs_recent() -> QuerySet[SyncRun]:
    """Every sync run, newest first (the API pages through it)."""
    return SyncRun.objects.order_by("-created_at", "-id")


def sync_run_get(*, run_id: uuid.UUID) -> SyncRun | None:
    return SyncRun.objects.filter(id=run_id).first()
