from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, using="default", **kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group

    from .services.roles import ROLE_NAMES, roles_ensure

    if Group.objects.using(using).filter(name__in=ROLE_NAMES).count() == len(ROLE_NAMES):
        return
    # Whichever app's signal this is, every app's permissions first (they come app by app).
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles_ensure()


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate (and a test flush): the roles exist, with their permissions.
        post_migrate.connect(_ensure_roles, dispatch_uid="deals.roles_ensure")
