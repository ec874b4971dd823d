"""The three roles (viewer, operator, admin): groups with model permissions, and the
permissions of the operator's actions. deals/services/roles.py says who holds what."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    from deals.services.roles import roles_ensure

    # Permissions are made after migrate by a signal: make them now, the roles need them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_ensure(apps=apps)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["viewer", "operator", "admin"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0014_insights_rollups"),
        ("hubspot", "0008_sync_run_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="deal",
            options={
                "ordering": ["-updated_at", "-id"],
                "permissions": [
                    ("rerun_deal", "Can re-run a deal from scratch"),
                    ("retry_deal", "Can retry a deal's failed stage"),
                ],
            },
        ),
        migrations.AlterModelOptions(
            name="dealwriteback",
            options={
                "ordering": ["-updated_at"],
                "permissions": [
                    ("retry_writeback", "Can retry sending an outcome to HubSpot now")
                ],
            },
        ),
        migrations.RunPython(create_roles, delete_roles),
    ]
