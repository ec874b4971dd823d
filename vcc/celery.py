import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")

app = Celery("vcc")
# Every CELERY_* setting in vcc/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
