import os
import sys

from celery import Celery
from celery.signals import task_postrun, worker_init

from vcc.queues import BACKLOG_QUEUE, CONTROL_QUEUE, OPERATOR_QUEUE, SERVED_IN_ORDER

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")

app = Celery("vcc")
# Every CELERY_* setting (vcc/settings/celery_conf.py) configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def check_worker_settings(sender, **kwargs) -> None:
    """Start-up rules for every worker, in one place: refuse to start, with one line saying
    why, rather than fail on the first job."""
    from django.conf import settings

    consume_from = sender.app.amqp.queues.consume_from  # after -Q/-X: what this worker serves
    queues = set(consume_from)
    if BACKLOG_QUEUE in queues and OPERATOR_QUEUE not in queues:
        # Operators' clicks would wait behind the backlog on this worker's share of it.
        sys.exit(
            f"worker: it serves the {BACKLOG_QUEUE!r} backlog but not the {OPERATOR_QUEUE!r} "
            f"lane; every worker that takes the backlog serves operators first: add "
            f"{OPERATOR_QUEUE} to -Q (or leave -Q out)"
        )
    order = [name for name in SERVED_IN_ORDER if name in queues]
    if [name for name in consume_from if name in SERVED_IN_ORDER] != order:
        # With the "priority" strategy the first queue listed that has a job is served first.
        sys.exit(
            f"worker: -Q lists the queues out of order; list them as {','.join(order)} "
            f"(a worker takes the next job from the first queue that has one)"
        )
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
