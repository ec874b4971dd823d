import os
import sys

from celery import Celery
from celery.signals import task_postrun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")

app = Celery("vcc")
# Every CELERY_* setting in vcc/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The queue of the work that keeps the system moving (syncs, the sweeper, fan-outs): see
# CELERY_TASK_QUEUES in vcc/settings.py.
CONTROL_QUEUE = "control"


@worker_init.connect
def check_worker_settings(sender, **kwargs) -> None:
    """Start-up rules for every worker, in one place: refuse to start, with one line saying
    why, rather than fail on the first job."""
    from django.conf import settings

    queues = set(sender.app.amqp.queues.consume_from)  # after -Q/-X: what this worker serves
    if CONTROL_QUEUE in queues and not settings.HUBSPOT_ACCESS_TOKEN:
        # Syncs run on this queue; a worker serving only the pipeline needs no token.
        sys.exit(
            f"worker: HUBSPOT_ACCESS_TOKEN is not set, and this worker serves the "
            f"{CONTROL_QUEUE!r} queue (HubSpot syncs); set it, start the worker with "
            f"-X {CONTROL_QUEUE}, or use bin/run, whose demo mode points it at the simulator"
        )


@task_postrun.connect
def close_old_connections(**kwargs) -> None:
    # What Django does after each request: drop connections that broke or outlived
    # CONN_MAX_AGE, keep the rest for the next task.
    from django.db import close_old_connections

    close_old_connections()
