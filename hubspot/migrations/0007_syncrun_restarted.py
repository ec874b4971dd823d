from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("hubspot", "0006_lifecycle_reconcile")]

    operations = [
        # Named as the page and the upsert say it: deals a HubSpot change restarted.
        migrations.RenameField(model_name="syncrun", old_name="rerun", new_name="restarted"),
    ]
