from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without locking out the webhook receiver's writes.
    atomic = False

    dependencies = [("hubspot", "0010_sync_run_totals")]

    operations = [
        AddIndexConcurrently(
            model_name="webhookevent",
            index=models.Index(
                condition=models.Q(("status", "failed")),
                fields=["id"],
                name="webhook_events_failed",
            ),
        ),
    ]
