import uuid

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone


class Stage(models.TextChoices):
    """Pipeline stages, in the order every deal goes through them."""

    INTAKE = "intake"
    SEGMENTATION = "segmentation"
    CATEGORIZATION = "categorization"
    APPRAISAL = "appraisal"
    REVIEW = "review"
    DONE = "done"


STAGE_ORDER: tuple[str, ...] = tuple(Stage.values)


class Deal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class HubspotState(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"  # deleted in HubSpot (restorable there for 90 days)
        MERGED = "merged"  # merged into another deal in HubSpot (merged_into)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # HubSpot-owned fields: written by ingestion only; HubSpot is the source of truth.
    hubspot_deal_id = models.TextField(unique=True)  # a numeric string, e.g. "18446744073"
    # db_default too: ingestion inserts with raw SQL (deals/services/ingest.py).
    hubspot_state = models.CharField(
        max_length=16,
        choices=HubspotState,
        default=HubspotState.ACTIVE,
        db_default=HubspotState.ACTIVE,
    )
    # When HubSpot last deleted, restored or merged it: an older event changes nothing.
    hubspot_state_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    name = models.TextField(blank=True, default="")
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    deal_stage = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL: HubSpot sent none
    hubspot_created_at = models.DateTimeField(null=True, blank=True)
    hubspot_checked_in_at = models.DateTimeField(null=True, blank=True)
    # Pipeline-owned fields: written by the pipeline runner only.
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    current_stage = models.CharField(max_length=16, choices=Stage, default=Stage.INTAKE)
    # When the last process_deal job was sent: the sweeper sends again if nothing happened.
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The pass the deal is on: every run the pipeline records from now on belongs to it.
    # (No index: nothing looks deals up by pass. Passes go only with their deal.)
    current_pass = models.ForeignKey(
        "PipelinePass",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Moves on every change operators can see. QuerySet.update() skips auto_now, so every
    # such update sets it too (bookkeeping like enqueued_at leaves it alone).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "deals"
        ordering = ["-updated_at", "-id"]
        # The operator role's actions (deals/migrations/0015_roles.py: who has them).
        permissions = [
            ("rerun_deal", "Can re-run a deal from scratch"),
            ("retry_deal", "Can retry a deal's failed stage"),
        ]
        indexes = [
            # The operator queue: newest-updated first, id breaking ties (keyset paging).
            models.Index(fields=["-updated_at", "-id"], name="deals_updated_id_desc"),
            # ...filtered by status or by stage: the same order within one status or stage
            # (a rare status, e.g. failed, would otherwise walk most of the index above).
            models.Index(fields=["status", "-updated_at", "-id"], name="deals_status_updated_id"),
            models.Index(
                fields=["current_stage", "-updated_at", "-id"], name="deals_stage_updated_id"
            ),
            # The queue of deals deleted or merged in HubSpot (few): in the same order. The
            # default queue (active deals, nearly all of them) walks the indexes above and
            # drops the few others as it goes; without this one, asking for the archived
            # ones would walk nearly every deal.
            models.Index(
                fields=["-updated_at", "-id"],
                name="deals_inactive_updated_id",
                condition=~Q(hubspot_state="active"),
            ),
            models.Index(fields=["-hubspot_checked_in_at"], name="deals_checked_in_desc"),
            # Queue search (`q`): a part of the name in any case (ILIKE '%q%', by trigrams).
            # A HubSpot id prefix (LIKE 'q%') has its index already: Django adds one with
            # text_pattern_ops beside the unique one (deals_hubspot_deal_id_..._like).
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="deals_name_trgm"),
            # The sweeper looks for unfinished deals nobody touched lately...
            models.Index(
                fields=["updated_at"],
                name="deals_unfinished_updated",
                condition=Q(status__in=["pending", "running"]),
            ),
            # ...and for pending ones sent longest ago, a batch at a time.
            models.Index(
                Coalesce("enqueued_at", "created_at"),
                name="deals_pending_last_sent",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hubspot_deal_id} {self.name}".strip()


# The statuses from which operators may start a deal again: a re-run from anything but
# running (a worker has it), a retry only from failed.
RERUN_FROM: tuple[str, ...] = (Deal.Status.PENDING, Deal.Status.DONE, Deal.Status.FAILED)
RETRY_FROM: tuple[str, ...] = (Deal.Status.FAILED,)


class PipelinePass(models.Model):
    """One pass of a deal through the pipeline: what started it, who, when, and the stage it
    started from. Every run belongs to one pass; a deal's passes are its history of
    attempts as operators see it (a retry after a failure is a new pass, a transient
    retry inside a pass is not)."""

    class Trigger(models.TextChoices):
        NEW = "new", "New from HubSpot"
        HUBSPOT_CHANGE = "hubspot_change", "HubSpot change"
        RERUN = "rerun", "Operator re-run"
        RETRY = "retry", "Operator retry"
        BULK_RERUN = "bulk_rerun", "Bulk re-run"
        BULK_RETRY = "bulk_retry", "Bulk retry"
        SWEEPER = "sweeper", "Sweeper"
        MERGE = "merge", "HubSpot merge"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed below with started_at, for a deal's passes newest first.
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="passes", db_index=False)
    trigger = models.CharField(max_length=16, choices=Trigger)
    # The username of whoever asked; empty when the system started it.
    requested_by = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    from_stage = models.CharField(max_length=16, choices=Stage, default=Stage.INTAKE)
    # The bulk request that started it: the operator lane is fed from it, page by page.
    bulk_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "pipeline_passes"
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["deal", "-started_at"], name="pipeline_passes_deal_started"),
            models.Index(
                fields=["bulk_id", "deal"],
                name="pipeline_passes_bulk_deal",
                condition=Q(bulk_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        started = f"{self.started_at:%Y-%m-%d %H:%M}"
        return f"{self.get_trigger_display()} from {self.from_stage} ({started})"


class PipelineRun(models.Model):
    """One attempt at one stage. Every attempt is a new row: history is never overwritten."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="pipeline_runs")
    # Runs are only ever read by deal; a pass goes only with its deal (no index, no cascade).
    pipeline_pass = models.ForeignKey(
        PipelinePass,
        on_delete=models.DO_NOTHING,
        db_column="pass_id",
        db_index=False,
        related_name="runs",
    )
    stage = models.CharField(max_length=16, choices=Stage)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL unless failed
    attempt = models.PositiveIntegerField()  # 1, 2, ... per deal and stage, across all passes
    # Set when a transient error failed this run and the stage will be tried again then.
    retry_at = models.DateTimeField(null=True, blank=True)
    # What the stage was (deals/stages.py): its version and configuration at this run, and
    # what it produced. NULL on runs from before stages recorded them. Read one run at a
    # time (GET /api/runs/{id}/): the queue and the deal's timeline never load them.
    stage_version = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    params = models.JSONField(null=True, blank=True)
    # The stage's return value, at most 64 KB (stages.OUTPUT_LIMIT_BYTES); a larger one is
    # kept as its first 64 KB of JSON text, flagged.
    output = models.JSONField(null=True, blank=True)
    output_truncated = models.BooleanField(default=False, db_default=False)
    # [{"at": ISO time, "level": "info", "message": "..."}], at most 200 lines or 64 KB;
    # the lines past that are counted. NULL once PIPELINE_RUN_LOG_RETENTION_DAYS cleared them.
    log_lines = models.JSONField(null=True, blank=True)
    # No CHECK (>= 0): adding one to a table of millions of runs scans it under lock.
    log_lines_dropped = models.IntegerField(default=0, db_default=0)
    log_lines_cleared = models.BooleanField(default=False, db_default=False)

    class Meta:
        db_table = "pipeline_runs"
        ordering = ["started_at", "id"]
        constraints = [
            # Two runners that somehow both started the same attempt cannot both record it.
            models.UniqueConstraint(
                fields=["deal", "stage", "attempt"], name="pipeline_runs_one_row_per_attempt"
            ),
        ]
        indexes = [
            models.Index(fields=["deal", "started_at"], name="pipeline_runs_deal_started"),
            models.Index(
                fields=["started_at"],
                name="pipeline_runs_running_started",
                condition=Q(status="running"),
            ),
            # The daily clearing of old log lines finds the runs still holding some.
            models.Index(
                fields=["started_at"],
                name="pipeline_runs_logs_kept",
                condition=Q(log_lines__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stage} #{self.attempt} {self.status}"


# What a run's stage recorded, shown on the run's own page, the API's and the admin's.
RUN_RECORDED_FIELDS = (
    "stage_version",
    "params",
    "output",
    "output_truncated",
    "log_lines",
    "log_lines_dropped",
    "log_lines_cleared",
)


class DealWriteback(models.Model):
    """A deal's latest outcome (done or failed), waiting for or sent to HubSpot: the
    outbox of the write-back. One row per deal.

    Written in the same statement as the status change (deals/services/runs.py, writeback.py),
    so no outcome is ever lost. A new outcome bumps `version` and queues the row again; a
    send in flight settles only the version it claimed, so the newer values are sent next.
    """

    class State(models.TextChoices):
        QUEUED = "queued"  # to send (when next_retry_at, if set, has passed)
        PROCESSING = "processing"  # claimed by a write-back loop, being sent
        COMPLETE = "complete"  # HubSpot has the latest outcome
        ERROR = "error"  # gave up: retries spent, or HubSpot has no such deal; staff retry

    deal = models.OneToOneField(
        Deal, primary_key=True, on_delete=models.CASCADE, related_name="writeback"
    )
    outcome_status = models.CharField(max_length=16, choices=Deal.Status)
    outcome_stage = models.CharField(max_length=16, choices=Stage)
    finished_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    version = models.PositiveBigIntegerField(default=1)  # bumped by every new outcome
    # The send in flight: who claimed it (a random token), when, and which version.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_version = models.PositiveBigIntegerField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "deal_writebacks"
        ordering = ["-updated_at"]
        permissions = [("retry_writeback", "Can retry sending an outcome to HubSpot now")]
        indexes = [
            # The loop's queue: rows still to send, oldest first (sent rows are most of
            # the table and stay out of this index).
            models.Index(
                fields=["queued_at"],
                name="deal_writebacks_to_send",
                condition=Q(state__in=["queued", "processing"]),
            ),
            models.Index(
                fields=["-updated_at"],
                name="deal_writebacks_errors",
                condition=Q(state="error"),
            ),
        ]

    def __str__(self) -> str:
        return f"write-back of {self.outcome_status} ({self.state})"


# What a deal counts as: its status while it is active in HubSpot, else its HubSpot state
# (the counts by status are of active deals only; archived and merged ones apart).
COUNTED_AS: list[tuple[str, str]] = [
    *Deal.Status.choices,
    *((value, label) for value, label in Deal.HubspotState.choices if value != "active"),
]


class DealCount(models.Model):
    """How many deals are in one status at one current stage, as of the last fold; a deal
    archived or merged in HubSpot counts under that state instead of its status (COUNTED_AS).

    The exact count is this plus the rows of `deal_count_changes` (+n / -n per status and
    stage), which triggers on `deals` append in the same transaction as every change of a
    deal's status, stage or HubSpot state, whoever makes it: pipeline steps, services, the
    upsert, bulk updates, a psql session (migrations 0007, 0011). Appending takes no lock
    another writer waits for, so concurrent workers never queue or deadlock on a counter;
    folding the changes in here (services.deal_counts_fold) keeps reading them cheap. Read
    the sum through selectors.deal_counts; never write here by hand.
    """

    pk = models.CompositePrimaryKey("status", "stage")
    status = models.CharField(max_length=16, choices=COUNTED_AS)
    stage = models.CharField(max_length=16, choices=Stage)
    deals = models.BigIntegerField()

    class Meta:
        db_table = "deal_counts"

    def __str__(self) -> str:
        return f"{self.status}/{self.stage}: {self.deals}"


# The insights' rollups live in their own module; Django finds models here.
from .insights_models import (  # noqa: E402, F401
    BacklogSample,
    DealEventRollup,
    InsightBucket,
    PipelineFailureRollup,
    PipelineRunRollup,
    PipelineRunTotal,
)
