"""The insights' rollups (deals/insights_models.py), kept by triggers as work happens.

- `pipeline_runs`: a run that ends (UPDATE of status from running, or a row inserted
  already ended) appends its stage, outcome, duration bin and, when it failed, its reason
  (the error, numbers written N) to `pipeline_run_changes`. A failure that will be tried
  again (retry_at set, or the worker was lost) is `retried`, else `failed`.
- `deals`: a deal whose status becomes done or failed appends to `deal_event_changes`
  (arrivals are appended by the HubSpot upsert, which knows the source).

Appending takes no lock another writer waits for; beat folds the changes into the rollups
(services.insights_fold). The change tables have no key and no index on purpose: appended
to and folded whole. Rollups start empty: history before this migration is not counted.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

# deals.insights_models.DURATION_BOUNDS, frozen here (a test keeps them the same).
BOUNDS = (
    "{0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,30,60,120,300,600,1800,3600}"
)

FORWARD = f"""
CREATE TABLE pipeline_run_changes (
    ended_at timestamptz NOT NULL,
    stage varchar(16) NOT NULL,
    outcome varchar(16) NOT NULL,
    bin smallint NOT NULL,
    seconds double precision NOT NULL,
    reason text
);
CREATE TABLE deal_event_changes (
    at timestamptz NOT NULL,
    event varchar(16) NOT NULL,
    source varchar(16) NOT NULL DEFAULT '',
    deals bigint NOT NULL
);

CREATE FUNCTION pipeline_run_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ended timestamptz := COALESCE(NEW.ended_at, now());
    secs double precision := GREATEST(EXTRACT(EPOCH FROM ended - NEW.started_at), 0);
BEGIN
    INSERT INTO pipeline_run_changes (ended_at, stage, outcome, bin, seconds, reason)
    VALUES (
        ended, NEW.stage,
        CASE WHEN NEW.status = 'succeeded' THEN 'succeeded'
             WHEN NEW.retry_at IS NOT NULL OR NEW.error = 'worker lost' THEN 'retried'
             ELSE 'failed' END,
        width_bucket(secs, '{BOUNDS}'::float8[]),
        secs,
        CASE WHEN NEW.status = 'failed'
             THEN left(regexp_replace(COALESCE(NEW.error, ''), '[0-9]+', 'N', 'g'), 200) END
    );
    RETURN NULL;
END $$;

CREATE FUNCTION deal_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_event_changes (at, event, deals)
    VALUES (COALESCE(NEW.updated_at, now()), NEW.status, 1);
    RETURN NULL;
END $$;

-- Runs or deals emptied (a test's flush, a bench's reload): their changes go with them.
CREATE FUNCTION insight_changes_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'pipeline_runs' THEN
        DELETE FROM pipeline_run_changes;
    ELSE
        DELETE FROM deal_event_changes;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER pipeline_run_changes_truncated AFTER TRUNCATE ON pipeline_runs
    FOR EACH STATEMENT EXECUTE FUNCTION insight_changes_truncated();
CREATE TRIGGER deal_event_changes_truncated AFTER TRUNCATE ON deals
    FOR EACH STATEMENT EXECUTE FUNCTION insight_changes_truncated();

CREATE TRIGGER pipeline_run_ended AFTER UPDATE OF status ON pipeline_runs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION pipeline_run_ended();
CREATE TRIGGER pipeline_run_inserted_ended AFTER INSERT ON pipeline_runs
    FOR EACH ROW WHEN (NEW.status <> 'running')
    EXECUTE FUNCTION pipeline_run_ended();
CREATE TRIGGER deal_ended AFTER UPDATE OF status ON deals
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('done', 'failed')
    )
    EXECUTE FUNCTION deal_ended();
"""

BACKWARD = """
DROP TRIGGER pipeline_run_ended ON pipeline_runs;
DROP TRIGGER pipeline_run_inserted_ended ON pipeline_runs;
DROP TRIGGER deal_ended ON deals;
DROP TRIGGER pipeline_run_changes_truncated ON pipeline_runs;
DROP TRIGGER deal_event_changes_truncated ON deals;
DROP FUNCTION insight_changes_truncated();
DROP FUNCTION pipeline_run_ended();
DROP FUNCTION deal_ended();
DROP TABLE pipeline_run_changes;
DROP TABLE deal_event_changes;
"""

STAGES = [
    ("intake", "Intake"),
    ("segmentation", "Segmentation"),
    ("categorization", "Categorization"),
    ("appraisal", "Appraisal"),
    ("review", "Review"),
    ("done", "Done"),
]
OUTCOMES = [("succeeded", "Succeeded"), ("failed", "Failed"), ("retried", "Retried")]
EVENTS = [("arrived", "Arrived"), ("done", "Done"), ("failed", "Failed")]


def _pk(*fields: str) -> tuple:
    return (
        "pk",
        models.CompositePrimaryKey(
            *fields, blank=True, editable=False, primary_key=True, serialize=False
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0013_pipeline_run_outputs"),
    ]

    operations = [
        migrations.CreateModel(
            name="PipelineRunRollup",
            fields=[
                _pk("width", "bucket", "stage", "outcome", "bin"),
                ("width", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("stage", models.CharField(choices=STAGES, max_length=16)),
                ("outcome", models.CharField(choices=OUTCOMES, max_length=16)),
                ("bin", models.SmallIntegerField()),
                ("runs", models.BigIntegerField()),
                ("seconds", models.FloatField()),
            ],
            options={"db_table": "pipeline_run_rollups"},
        ),
        migrations.CreateModel(
            name="PipelineRunTotal",
            fields=[
                _pk("stage", "outcome", "bin"),
                ("stage", models.CharField(choices=STAGES, max_length=16)),
                ("outcome", models.CharField(choices=OUTCOMES, max_length=16)),
                ("bin", models.SmallIntegerField()),
                ("runs", models.BigIntegerField()),
                ("seconds", models.FloatField()),
            ],
            options={"db_table": "pipeline_run_totals"},
        ),
        migrations.CreateModel(
            name="PipelineFailureRollup",
            fields=[
                _pk("width", "bucket", "stage", "outcome", "reason"),
                ("width", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("stage", models.CharField(choices=STAGES, max_length=16)),
                ("outcome", models.CharField(choices=OUTCOMES, max_length=16)),
                ("reason", models.TextField()),
                ("runs", models.BigIntegerField()),
            ],
            options={"db_table": "pipeline_failure_rollups"},
        ),
        migrations.CreateModel(
            name="DealEventRollup",
            fields=[
                _pk("width", "bucket", "event", "source"),
                ("width", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("event", models.CharField(choices=EVENTS, max_length=16)),
                ("source", models.CharField(blank=True, max_length=16)),
                ("deals", models.BigIntegerField()),
            ],
            options={"db_table": "deal_event_rollups"},
        ),
        migrations.CreateModel(
            name="InsightBucket",
            fields=[
                _pk("width", "bucket"),
                ("width", models.IntegerField()),
                ("bucket", models.DateTimeField()),
                ("arrived", ArrayField(base_field=models.BigIntegerField(), size=None)),
                ("done", models.BigIntegerField()),
                ("failed", models.BigIntegerField()),
                ("p50", ArrayField(base_field=models.FloatField(null=True), size=None)),
                ("p95", ArrayField(base_field=models.FloatField(null=True), size=None)),
                ("failed_runs", ArrayField(base_field=models.BigIntegerField(), size=None)),
            ],
            options={"db_table": "insight_buckets"},
        ),
        migrations.CreateModel(
            name="BacklogSample",
            fields=[
                ("bucket", models.DateTimeField(primary_key=True, serialize=False)),
                ("sampled_at", models.DateTimeField()),
                ("pending", models.BigIntegerField()),
                ("running", models.BigIntegerField()),
                ("oldest_pending_at", models.DateTimeField(null=True)),
            ],
            options={"db_table": "pipeline_backlog_samples"},
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
