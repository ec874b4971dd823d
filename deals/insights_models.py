"""Rollups for the queue page's insights and the Prometheus metrics: kept as work happens,
so neither ever scans `pipeline_runs` or `deals`.

Triggers on `pipeline_runs` (a run ending) and `deals` (a deal ending done or failed), and
the HubSpot upsert (a deal arriving, by source), append one row each to a change table in
the same transaction as the change itself: exact at commit, gone with a rollback, and no
lock another writer waits for (the pattern of the deal counts, migration 0007). Beat folds
the changes into per-5-minute and per-hour rows, and into all-time totals for the metrics
(services.insights_fold, migration 0014). Never write here by hand.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from .models import Stage

# Run durations are counted per bin: bin 0 is [0, 0.001 s), bin i [B[i-1], B[i]), the last
# [3600 s, ∞). Percentiles come from these (as Prometheus' histogram_quantile does), and
# the metrics' histogram buckets are their upper bounds. Frozen: the trigger (migration
# 0014) has them as a literal; a test keeps the two the same.
DURATION_BOUNDS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600,
)  # fmt: skip

# Rollup widths, in seconds: 5-minute rows for the 24-hour view, hourly for 7 days.
FIVE_MINUTES = 300
HOUR = 3600
DAY = 86400  # failure reasons only: the 7-day top reasons sum a few rows a day


# Where new deals come from (the upsert's sources, as the charts name them).
ARRIVAL_SOURCES: tuple[str, ...] = ("sync", "webhook", "import", "reconcile")


class RunOutcome(models.TextChoices):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the deal failed at this stage
    RETRIED = "retried"  # a transient failure: the stage is tried again


class DealEvent(models.TextChoices):
    ARRIVED = "arrived"  # a new deal from HubSpot (source: sync, webhook, import, reconcile)
    DONE = "done"
    FAILED = "failed"


class PipelineRunRollup(models.Model):
    """Runs that ended in one bucket (5 minutes or an hour), per stage, outcome and
    duration bin."""

    pk = models.CompositePrimaryKey("width", "bucket", "stage", "outcome", "bin")
    width = models.IntegerField()  # seconds: FIVE_MINUTES or HOUR
    bucket = models.DateTimeField()
    stage = models.CharField(max_length=16, choices=Stage)
    outcome = models.CharField(max_length=16, choices=RunOutcome)
    bin = models.SmallIntegerField()
    runs = models.BigIntegerField()
    seconds = models.FloatField()  # their durations' sum

    class Meta:
        db_table = "pipeline_run_rollups"

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.stage} {self.outcome}: {self.runs}"


class PipelineRunTotal(models.Model):
    """Every run that ever ended, per stage, outcome and duration bin (the metrics'
    counters and histograms: they survive restarts and never go down)."""

    pk = models.CompositePrimaryKey("stage", "outcome", "bin")
    stage = models.CharField(max_length=16, choices=Stage)
    outcome = models.CharField(max_length=16, choices=RunOutcome)
    bin = models.SmallIntegerField()
    runs = models.BigIntegerField()
    seconds = models.FloatField()

    class Meta:
        db_table = "pipeline_run_totals"

    def __str__(self) -> str:
        return f"{self.stage} {self.outcome}: {self.runs}"


class PipelineFailureRollup(models.Model):
    """Failed runs in one bucket per stage, outcome (failed or retried) and reason: the
    run's error with its numbers written N, so one reason is one row whatever the deal."""

    pk = models.CompositePrimaryKey("width", "bucket", "stage", "outcome", "reason")
    width = models.IntegerField()
    bucket = models.DateTimeField()
    stage = models.CharField(max_length=16, choices=Stage)
    outcome = models.CharField(max_length=16, choices=RunOutcome)
    reason = models.TextField()
    runs = models.BigIntegerField()

    class Meta:
        db_table = "pipeline_failure_rollups"

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.stage}: {self.reason} ({self.runs})"


class DealEventRollup(models.Model):
    """Deals that arrived (per source) or ended done or failed, in one bucket; `width` 0 is
    the all-time total."""

    pk = models.CompositePrimaryKey("width", "bucket", "event", "source")
    width = models.IntegerField()
    bucket = models.DateTimeField()
    event = models.CharField(max_length=16, choices=DealEvent)
    source = models.CharField(max_length=16, blank=True)  # arrivals only
    deals = models.BigIntegerField()

    class Meta:
        db_table = "deal_event_rollups"

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.event} {self.source}: {self.deals}"


class InsightBucket(models.Model):
    """One bucket of the queue page's charts, as they draw it: computed by the fold from
    the rollup rows of the buckets it touched, so a poll reads one row a bucket. Arrays
    follow ARRIVAL_SOURCES and STAGE_ORDER; a duration is null where no run succeeded."""

    pk = models.CompositePrimaryKey("width", "bucket")
    width = models.IntegerField()
    bucket = models.DateTimeField()
    arrived = ArrayField(models.BigIntegerField())  # per ARRIVAL_SOURCES
    done = models.BigIntegerField()
    failed = models.BigIntegerField()
    p50 = ArrayField(models.FloatField(null=True))  # succeeded runs' seconds, per stage
    p95 = ArrayField(models.FloatField(null=True))
    failed_runs = ArrayField(models.BigIntegerField())  # failed and retried, per stage

    class Meta:
        db_table = "insight_buckets"

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} ({self.width} s)"


class BacklogSample(models.Model):
    """The pending deals (active in HubSpot) and the oldest one's wait, as of the last fold
    in each 5-minute bucket."""

    bucket = models.DateTimeField(primary_key=True)
    sampled_at = models.DateTimeField()
    pending = models.BigIntegerField()
    running = models.BigIntegerField()
    oldest_pending_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "pipeline_backlog_samples"

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M}: {self.pending} pending"
