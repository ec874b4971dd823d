import uuid

from django.conf import settings
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
    "restarted",
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
        REREAD = "reread"  # the daily re-read of the lookback window, a safety net

    class Kind(models.TextChoices):
        # What the window is of: deals HubSpot modified in it (hs_lastmodifieddate: the
        # steady-state poll), or deals checked in within it (the first sync, backfills and
        # the daily re-read).
        CHANGES = "changes"
        CHECKED_IN = "checked_in"
        # Not a window: our deals' ids read back, for deletions, restores and merges
        # HubSpot made without a webhook reaching us (hubspot/services/reconcile.py).
        RECONCILE = "reconcile"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(max_length=16, choices=Trigger)
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.CHECKED_IN)
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
    # ...of which failed (or done) deals the change sent round the pipeline again
    restarted = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)  # records rejected (see rejections)
    # A reconcile's findings (`fetched` counts the deals it checked).
    archived = models.PositiveIntegerField(default=0)
    restored = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
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
        permissions = [("start_sync", "Can start a sync now")]
        indexes = [models.Index(fields=["-created_at", "-id"], name="sync_runs_created_desc")]

    def __str__(self) -> str:
        return f"{self.trigger} sync {self.status} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def summary(self) -> str:
        if self.kind == self.Kind.RECONCILE:
            return (
                f"checked={self.fetched} archived={self.archived} restored={self.restored} "
                f"merged={self.merged} requests={self.requests}"
            )
        return (
            f"fetched={self.fetched} new={self.new} updated={self.updated} "
            f"restarted={self.restarted} unchanged={self.unchanged} invalid={self.invalid}"
        )


class WebhookEvent(models.Model):
    """One deal event HubSpot sent to the webhook endpoint, kept until its deal is read.

    Recorded once: `dedupe_key` is every field HubSpot sends except `attemptNumber`, so a
    redelivered event finds its row and changes nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # the deal is still to be read from HubSpot
        DONE = "done"
        # HubSpot refused to read it HUBSPOT_WEBHOOK_MAX_ATTEMPTS times for a reason that
        # is not transient (see `error`); kept out of the way of the events after it.
        FAILED = "failed"

    class Outcome(models.TextChoices):
        IMPORTED = "imported"  # a new deal, handed to the pipeline
        ALREADY_PRESENT = "already_present"
        INVALID = "invalid"  # not usable (no or a bad checked-in time...: see `error`)
        NOT_FOUND = "not_found"  # HubSpot no longer has the deal
        ARCHIVED = "archived"  # a deletion: ours archived (or already, or not ours)
        MERGED = "merged"  # HubSpot merged the deal away: its survivor was read instead

    id = models.BigAutoField(primary_key=True)
    dedupe_key = models.CharField(max_length=64, unique=True, editable=False)
    event_id = models.BigIntegerField()
    subscription_type = models.CharField(max_length=64)
    hubspot_deal_id = models.TextField()
    property_name = models.TextField(blank=True, default="")
    property_value = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    outcome = models.CharField(max_length=16, choices=Outcome, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)  # reads of its deal that failed
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "hubspot_webhook_events"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="webhook_events_received_desc"),
            # The queue of events still to process: small, whatever the history.
            models.Index(
                fields=["id"], name="webhook_events_pending", condition=models.Q(status="pending")
            ),
            # The events given up, counted by the health on every poll: as small.
            models.Index(
                fields=["id"], name="webhook_events_failed", condition=models.Q(status="failed")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_type} {self.hubspot_deal_id} ({self.status})"


class DealImport(models.Model):
    """Staff asked for these HubSpot deal ids to be brought in (API or admin)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"  # every item settled, however each ended

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    total = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved by each batch; an import with pending items silent for a while lost its job.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "hubspot_deal_imports"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import of {self.total} deal(s) ({self.status}, {self.created_at:%Y-%m-%d %H:%M})"


class DealImportItem(models.Model):
    """One HubSpot deal id of an import, and how it ended."""

    class Status(models.TextChoices):
        PENDING = "pending"
        IMPORTED = "imported"  # a new deal, handed to the pipeline
        ALREADY_PRESENT = "already_present"
        NOT_FOUND = "not_found"  # HubSpot has no such deal
        FAILED = "failed"  # see `error`

    id = models.BigAutoField(primary_key=True)
    deal_import = models.ForeignKey(DealImport, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()  # order in the request
    hubspot_deal_id = models.TextField()
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    deal_id = models.UUIDField(null=True, blank=True)  # our deal, once it exists
    # HubSpot merged this deal away: the survivor's id, imported (or found) instead, whose
    # deal deal_id is.
    merged_into = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "hubspot_deal_import_items"
        ordering = ["deal_import", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal_import", "hubspot_deal_id"], name="import_items_one_per_deal"
            ),
            models.UniqueConstraint(
                fields=["deal_import", "position"], name="import_items_one_per_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hubspot_deal_id} {self.status}"


class DealPayload(models.Model):
    """The HubSpot JSON last fetched for a deal (sync, import or webhook), for debugging.

    A table of its own, not a column of `deals`: the queue's pages stay small. Keyed by the
    HubSpot id, so records we could not use are kept too. Deleted after RAW_PAYLOAD_TTL_DAYS
    without a fetch.
    """

    hubspot_deal_id = models.TextField(primary_key=True)
    # The object as HubSpot sent it; when larger than the cap, a string: the start of its
    # JSON text (`truncated` is then set and `size_bytes` says how large it was).
    payload = models.JSONField()
    truncated = models.BooleanField(default=False)
    size_bytes = models.PositiveIntegerField()
    source = models.CharField(max_length=16)  # sync, import, webhook
    fetched_at = models.DateTimeField()

    class Meta:
        db_table = "hubspot_deal_payloads"
        ordering = ["-fetched_at"]
        indexes = [models.Index(fields=["fetched_at"], name="deal_payloads_fetched")]

    def __str__(self) -> str:
        return f"{self.hubspot_deal_id} ({self.source}, {self.size_bytes} bytes)"


# A sync keeps this many of the records it rejected; `invalid` counts them all.
REJECTIONS_KEPT = 1_000


class SyncRejection(models.Model):
    """A HubSpot record a sync could not take, and why (the first REJECTIONS_KEPT a run)."""

    sync_run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="rejections")
    hubspot_deal_id = models.TextField()
    reason = models.TextField()

    class Meta:
        db_table = "sync_rejections"
        ordering = ["sync_run", "id"]

    def __str__(self) -> str:
        return f"{self.hubspot_deal_id}: {self.reason}"


class SyncRunTotal(models.Model):
    """Every sync run that ever ended (the metrics' counters: sync runs are deleted after
    HUBSPOT_SYNC_RUN_RETENTION_DAYS, these never), per kind, outcome and duration bin
    (deals.insights_models.DURATION_BOUNDS). Kept by a trigger on sync_runs (migration
    0007); never write here by hand."""

    pk = models.CompositePrimaryKey("kind", "status", "bin")
    kind = models.CharField(max_length=16, choices=SyncRun.Kind)
    status = models.CharField(max_length=16, choices=SyncRun.Status)
    bin = models.SmallIntegerField()
    runs = models.BigIntegerField()
    seconds = models.FloatField()

    class Meta:
        db_table = "sync_run_totals"

    def __str__(self) -> str:
        return f"{self.kind} {self.status}: {self.runs}"
