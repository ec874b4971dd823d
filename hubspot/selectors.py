"""Reads of the HubSpot app's records, for the API and the admin."""

import uuid

from django.db.models import Count, Q, QuerySet

from .models import DealImport, DealImportItem, SyncRun


def sync_runs_recent() -> QuerySet[SyncRun]:
    """Every sync run, newest first (the API pages through it)."""
    return SyncRun.objects.order_by("-created_at", "-id")


def sync_run_get(*, run_id: uuid.UUID) -> SyncRun | None:
    return SyncRun.objects.filter(id=run_id).first()


def deal_import_get(*, import_id: uuid.UUID) -> DealImport | None:
    return DealImport.objects.filter(id=import_id).first()


def deal_import_totals(*, import_id: uuid.UUID) -> dict[str, int]:
    """How many items ended each way, how many are done, and the total (one query)."""
    Status = DealImportItem.Status
    counts = {
        status: Count("id", filter=Q(status=status))
        for status in Status.values
        if status != Status.PENDING
    }
    totals = DealImportItem.objects.filter(deal_import_id=import_id).aggregate(
        total=Count("id"), **counts
    )
    totals["done"] = sum(totals[status] for status in counts)
    return totals


def deal_import_items(*, import_id: uuid.UUID, offset: int, limit: int) -> list[DealImportItem]:
    """The import's items in request order, `limit` from `offset`."""
    items = DealImportItem.objects.filter(deal_import_id=import_id).order_by("position")
    return list(items[offset : offset + limit])
