from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """What each run's stage was and produced (deals/stages.py): its version and params, its
    output and its log lines. Added columns only; existing runs keep NULLs (their stages
    recorded nothing), and the defaults are constants, so no table rewrite. The index for
    the clearing of old log lines is built concurrently: runs keep being written meanwhile."""

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("deals", "0012_deals_inactive_updated_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinerun",
            name="stage_version",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="params",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="output",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="output_truncated",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="log_lines",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="log_lines_dropped",
            field=models.IntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="log_lines_cleared",
            field=models.BooleanField(db_default=False, default=False),
        ),
        AddIndexConcurrently(
            model_name="pipelinerun",
            index=models.Index(
                condition=models.Q(("log_lines__isnull", False)),
                fields=["started_at"],
                name="pipeline_runs_logs_kept",
            ),
        ),
    ]
