"""The pipeline: retries, the sweeper, bulk actions, the queue page's reuse, stage runs."""

from celery.schedules import crontab

from .base import env
from .celery_conf import CELERY_BEAT_SCHEDULE

# ------------------------------------------------------------------------------
# Pipeline
# ------------------------------------------------------------------------------
# Attempts per stage for transient errors (a RetryableStageError, a lost DB connection).
PIPELINE_MAX_ATTEMPTS = env.int("PIPELINE_MAX_ATTEMPTS", default=3)
PIPELINE_RETRY_BACKOFF_SECONDS = env.float("PIPELINE_RETRY_BACKOFF_SECONDS", default=2.0)
# Deals left pending or running, untouched this long, are enqueued again by the sweeper.
PIPELINE_STUCK_AFTER_SECONDS = env.int("PIPELINE_STUCK_AFTER_SECONDS", default=600)
# A stage whose worker died this many times in a row fails the deal instead of looping.
PIPELINE_MAX_LOST_WORKERS = env.int("PIPELINE_MAX_LOST_WORKERS", default=3)
# A fix in HubSpot re-runs a failed deal from the stage that failed; with this on, a change
# to a done deal runs it again from intake too.
PIPELINE_RERUN_DONE_ON_CHANGE = env.bool("PIPELINE_RERUN_DONE_ON_CHANGE", default=False)
# Bulk actions feed the operator lane this many deals at a time: an operator's own click
# waits behind at most one page of them.
PIPELINE_OPERATOR_PAGE_SIZE = env.int("PIPELINE_OPERATOR_PAGE_SIZE", default=50)
# A queue page built for one poller is served again to the others asking for the same ETag
# for this long (per process); running deals' durations are still written fresh. 0: off.
QUEUE_PAGE_REUSE_SECONDS = env.float("QUEUE_PAGE_REUSE_SECONDS", default=10.0)
# Stub stages take this long, so a demo shows deals moving; 0 in production.
PIPELINE_DEMO_STAGE_SECONDS = env.float("PIPELINE_DEMO_STAGE_SECONDS", default=0.0)
PIPELINE_SWEEP_INTERVAL_SECONDS = env.float("PIPELINE_SWEEP_INTERVAL_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["deals-sweep-stuck"] = {
    "task": "deals.tasks.sweep_stuck_deals",
    "schedule": PIPELINE_SWEEP_INTERVAL_SECONDS,
    # A tick no worker ran before the next one is due is dropped, not piled up.
    "options": {"expires": PIPELINE_SWEEP_INTERVAL_SECONDS},
}
# Runs' log lines are cleared this long after the run started (daily; outputs are kept).
PIPELINE_RUN_LOG_RETENTION_DAYS = env.int("PIPELINE_RUN_LOG_RETENTION_DAYS", default=90)
CELERY_BEAT_SCHEDULE["deals-clear-old-run-logs"] = {
    "task": "deals.tasks.clear_old_run_logs",
    "schedule": crontab(hour="3", minute="53"),
}
# The deal count changes the triggers append are folded into the counters this often (a
# counts read that finds many folds them too): reading the counts stays a sum of few rows.
CELERY_BEAT_SCHEDULE["deals-fold-counts"] = {
    "task": "deals.tasks.fold_deal_counts",
    "schedule": 30.0,
    "options": {"expires": 30.0},
}
