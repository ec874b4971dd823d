from django.db import migrations


class Migration(migrations.Migration):
    # "Sync now" is a permission of its own (the operator role's; deals 0015 gives it).
    dependencies = [("hubspot", "0007_syncrun_restarted")]

    operations = [
        migrations.AlterModelOptions(
            name="syncrun",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("start_sync", "Can start a sync now")],
            },
        ),
    ]
