"""Celery: the broker, the queues and their order, acks and limits, beat's schedule (each
part below adds its own entries)."""

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from vcc import engines
from vcc.queues import BACKLOG_QUEUE, CONTROL_QUEUE, SERVED_IN_ORDER

from .base import env

# ------------------------------------------------------------------------------
# Celery
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or engines.DEV.broker_url
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must name a Redis server (redis://...).")
# Redis redelivers an unacked task after this many seconds; it must outlast the longest
# task, else a healthy long task would be delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Three queues (vcc/queues.py), consumed by every worker unless told otherwise (`-Q`), in
# this order; a worker whose `-Q` lists them in another order refuses to start.
CELERY_TASK_QUEUES = [Queue(name) for name in SERVED_IN_ORDER]
# Redis answers a multi-queue BRPOP from the first non-empty key: "priority" keeps our
# order, where kombu's default ("round_robin") rotates it after every message.
CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] = "priority"
CELERY_TASK_DEFAULT_QUEUE = BACKLOG_QUEUE
CELERY_TASK_ROUTES = {
    "hubspot.tasks.*": {"queue": CONTROL_QUEUE},
    "deals.tasks.sweep_stuck_deals": {"queue": CONTROL_QUEUE},
    "deals.tasks.enqueue_deals": {"queue": CONTROL_QUEUE},
    "deals.tasks.fold_deal_counts": {"queue": CONTROL_QUEUE},
    "deals.tasks.clear_old_run_logs": {"queue": CONTROL_QUEUE},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # state lives in our tables, not in a result backend
CELERY_TASK_ACKS_LATE = True  # a task is removed from the queue only once it has finished
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...and requeued when its worker process dies
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a busy worker does not sit on queued deals
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=330)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it, and a new PostgreSQL backend per deal costs more than the deal itself. Reused
# connections still close when broken or older than CONN_MAX_AGE (see vcc/celery.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_SEND_TASK_EVENTS = False  # a broker publish each; flower turns them on itself
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Installed into django-celery-beat's tables when beat starts (interval from settings; staff
# may pause a task in the admin). Each app adds its own entries below.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
