import uuid

from django.db import models
from django.utils import timezone

# The one value `SyncRun.active` takes while a run is queued or running. The column is
# unique, and NULL for every finished run, so at most one sync is ever in flight: the
# lock is the run itself, visible to staff, and it needs no separate table.
ACTIVE = "hubspot-sync"

# What a sync counts, in the order the admin and the API show it.
COUNT_FIELDS = (
    "fetched",
    "new",
    "updated",
    "unchanged",
    "invalid",
    "pages",
    "requests",
    "rate_limited",
)


class SyncRun(models.Model):
    """One sync of deals from HubSpot: scheduled, manual, from the command, or a backfill."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled"
        MANUAL = "manual"
        COMMAND = "command"
        BACKFILL = "backfill"  # an explicit window (sync_hubspot --since/--until)

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(max_length=16, choices=Trigger)
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    active = models.CharField(max_length=16, null=True, unique=True, editable=False)  # noqa: DJ001
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Moved on every page; a running sync silent for HUBSPOT_SYNC_LOCK_TTL_SECONDS is dead.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)  # HubSpot requests, retries included
    rate_limited = models.PositiveIntegerField(default=0)  # 429 answers met
    error = models.TextField(blank=True, default="")
    progress_current = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    progress_message = models.TextField(blank=True, default="")

    class Meta:
        db_table = "sync_runs"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="sync_runs_created_desc")]

    def __str__(self) -> str:
        return f"{self.trigger} sync {self.status} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def summary(self) -> str:
        return (
            f"fetched={self.fetched} new={self.new} updated={self.updated} "
            f"unchanged={self.unchanged} invalid={self.invalid}"
        )
