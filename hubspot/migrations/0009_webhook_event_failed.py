from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hubspot", "0008_sync_run_permissions")]

    operations = [
        migrations.AlterField(
            model_name="webhookevent",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("done", "Done"), ("failed", "Failed")],
                default="pending",
                max_length=16,
            ),
        ),
    ]
