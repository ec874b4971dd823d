"""Sync runs counted for the metrics as they end (sync_runs itself is pruned daily): a run
whose status becomes succeeded, failed or skipped adds one to its kind, status and
duration bin (started to finished; a skip has none and counts in bin 0). Sync runs are
few and one at a time, so the trigger updates the total in place."""

from django.db import migrations, models

# deals.insights_models.DURATION_BOUNDS, frozen here.
BOUNDS = (
    "{0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,30,60,120,300,600,1800,3600}"
)

FORWARD = f"""
CREATE FUNCTION sync_run_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    secs double precision := GREATEST(COALESCE(
        EXTRACT(EPOCH FROM NEW.finished_at - NEW.started_at), 0), 0);
BEGIN
    INSERT INTO sync_run_totals AS t (kind, status, bin, runs, seconds)
    VALUES (NEW.kind, NEW.status, width_bucket(secs, '{BOUNDS}'::float8[]), 1, secs)
    ON CONFLICT (kind, status, bin)
    DO UPDATE SET runs = t.runs + 1, seconds = t.seconds + EXCLUDED.seconds;
    RETURN NULL;
END $$;

CREATE TRIGGER sync_run_ended AFTER UPDATE OF status ON sync_runs
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        AND NEW.status IN ('succeeded', 'failed', 'skipped')
        AND OLD.status NOT IN ('succeeded', 'failed', 'skipped')
    )
    EXECUTE FUNCTION sync_run_ended();
CREATE TRIGGER sync_run_inserted_ended AFTER INSERT ON sync_runs
    FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed', 'skipped'))
    EXECUTE FUNCTION sync_run_ended();
"""

BACKWARD = """
DROP TRIGGER sync_run_ended ON sync_runs;
DROP TRIGGER sync_run_inserted_ended ON sync_runs;
DROP FUNCTION sync_run_ended();
"""

KINDS = [("changes", "Changes"), ("checked_in", "Checked In"), ("reconcile", "Reconcile")]
STATUSES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("hubspot", "0009_webhook_event_failed"),
    ]

    operations = [
        migrations.CreateModel(
            name="SyncRunTotal",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "kind", "status", "bin", blank=True, editable=False, primary_key=True,
                        serialize=False,
                    ),
                ),
                ("kind", models.CharField(choices=KINDS, max_length=16)),
                ("status", models.CharField(choices=STATUSES, max_length=16)),
                ("bin", models.SmallIntegerField()),
                ("runs", models.BigIntegerField()),
                ("seconds", models.FloatField()),
            ],
            options={"db_table": "sync_run_totals"},
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
