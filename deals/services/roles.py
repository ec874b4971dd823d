"""The three roles, as groups holding model permissions: viewer, operator, admin.

Made by deals/migrations/0015_roles.py, and again after any migrate or flush that left one
missing (the post_migrate signal: a test database flushed between tests loses them). A role
that exists is left as it is: an admin may have changed what it holds. README: Roles.
"""

from django.apps import apps as global_apps
from django.apps.registry import Apps

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLE_NAMES = (VIEWER, OPERATOR, ADMIN)
# Reads the queue page, deals, runs, sync runs, imports, webhook events and the API docs.
VIEWER_PERMISSIONS = (
    "deals.view_deal",
    "deals.view_pipelinerun",
    "deals.view_pipelinepass",
    "deals.view_dealwriteback",
    "hubspot.view_syncrun",
    "hubspot.view_syncrejection",
    "hubspot.view_dealimport",
    "hubspot.view_dealimportitem",
    "hubspot.view_webhookevent",
)
# Also starts work: re-run, retry, bulk actions, imports, Sync now, write-back Retry now;
# and reads the raw HubSpot payloads.
OPERATOR_PERMISSIONS = (
    *VIEWER_PERMISSIONS,
    "deals.rerun_deal",
    "deals.retry_deal",
    "deals.retry_writeback",
    "hubspot.start_sync",
    "hubspot.add_dealimport",
    "hubspot.view_dealpayload",
)
# Also changes in the Django admin: users and groups, API tokens, beat's schedules, and
# every row of these apps the admin lets anyone change.
# And the login throttle's records (axes: clearing a lock is deleting its attempts).
ADMIN_APPS = ("auth", "authtoken", "django_celery_beat", "deals", "hubspot", "admin", "axes")


def roles_ensure(*, apps: Apps = global_apps) -> list[str]:
    """Create the roles that do not exist, with their permissions; returns their names.
    `apps`: a migration's historical registry, or the live one."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    existing = set(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    created = []
    for name in ROLE_NAMES:
        if name in existing:
            continue
        wanted = OPERATOR_PERMISSIONS if name != VIEWER else VIEWER_PERMISSIONS
        permissions = list(
            Permission.objects.select_related("content_type").filter(
                content_type__app_label__in={n.split(".")[0] for n in wanted},
                codename__in={n.split(".")[1] for n in wanted},
            )
        )
        permissions = [
            p for p in permissions if f"{p.content_type.app_label}.{p.codename}" in wanted
        ]
        if name == ADMIN:
            permissions += list(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
        if len({p.pk for p in permissions}) < len(wanted):
            continue  # permissions not made yet (a migrate part-way): the next one makes it
        group = Group.objects.create(name=name)
        group.permissions.add(*permissions)
        created.append(name)
    return created
