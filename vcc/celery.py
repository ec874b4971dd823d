import os

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")

app = Celery("vcc")
# Every CELERY_* setting in vcc/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def close_old_connections(**kwargs) -> None:
    # What Django does after each request: drop connections that broke or outlived
    # CONN_MAX_AGE, keep the rest for the next task.
    from django.db import close_old_connections

    close_old_connections()
