from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"
    default_auto_field = "django.db.models.BigAutoField"
