import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# Every deal already here gets one pass, "new from HubSpot" at its arrival, holding all of
# its runs: earlier re-runs were not recorded as such, so they cannot be told apart now.
BACKFILL = """
INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at, from_stage)
SELECT gen_random_uuid(), id, 'new', '', created_at, 'intake' FROM deals;
UPDATE deals SET current_pass_id = p.id FROM pipeline_passes p WHERE p.deal_id = deals.id;
UPDATE pipeline_runs SET pass_id = d.current_pass_id FROM deals d WHERE d.id = pipeline_runs.deal_id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("deals", "0007_deal_counts"),
    ]

    operations = [
        migrations.CreateModel(
            name="PipelinePass",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("trigger", models.CharField(choices=[("new", "New from HubSpot"), ("hubspot_change", "HubSpot change"), ("rerun", "Operator re-run"), ("retry", "Operator retry"), ("bulk_rerun", "Bulk re-run"), ("bulk_retry", "Bulk retry"), ("sweeper", "Sweeper")], max_length=16)),
                ("requested_by", models.CharField(blank=True, default="", max_length=150)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("from_stage", models.CharField(choices=[("intake", "Intake"), ("segmentation", "Segmentation"), ("categorization", "Categorization"), ("appraisal", "Appraisal"), ("review", "Review"), ("done", "Done")], default="intake", max_length=16)),
                ("bulk_id", models.UUIDField(blank=True, editable=False, null=True)),
                ("deal", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="passes", to="deals.deal")),
            ],
            options={
                "db_table": "pipeline_passes",
                "ordering": ["-started_at", "-id"],
                "indexes": [
                    models.Index(fields=["deal", "-started_at"], name="pipeline_passes_deal_started"),
                    models.Index(condition=models.Q(("bulk_id__isnull", False)), fields=["bulk_id", "deal"], name="pipeline_passes_bulk_deal"),
                ],
            },
        ),
        migrations.AddField(
            model_name="deal",
            name="current_pass",
            field=models.ForeignKey(blank=True, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="deals.pipelinepass"),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="pipeline_pass",
            field=models.ForeignKey(db_column="pass_id", db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="runs", to="deals.pipelinepass"),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="pipelinerun",
            name="pipeline_pass",
            field=models.ForeignKey(db_column="pass_id", db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="runs", to="deals.pipelinepass"),
        ),
    ]
