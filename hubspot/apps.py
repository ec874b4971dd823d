from django.apps import AppConfig


class HubspotConfig(AppConfig):
    name = "hubspot"
    verbose_name = "HubSpot"
    default_auto_field = "django.db.models.BigAutoField"
