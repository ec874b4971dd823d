"""Retention of what runs recorded: log lines of old runs are cleared (outputs are kept;
both go with their runs, which go with their deals)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_BATCH = 1000

# A batch at a time (short transactions, however many runs); the partial index
# pipeline_runs_logs_kept finds the runs still holding lines.
_CLEAR_SQL = """
UPDATE pipeline_runs SET log_lines = NULL, log_lines_cleared = true
WHERE id IN (
    SELECT id FROM pipeline_runs
    WHERE log_lines IS NOT NULL AND started_at < %(cutoff)s
    LIMIT %(batch)s
)
"""


def pipeline_runs_clear_old_logs(*, now: datetime | None = None) -> int:
    """Clear the log lines of runs started more than PIPELINE_RUN_LOG_RETENTION_DAYS ago;
    logs and returns how many runs were cleared."""
    days = settings.PIPELINE_RUN_LOG_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    cleared = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CLEAR_SQL, {"cutoff": cutoff, "batch": _BATCH})
            count = cursor.rowcount
        cleared += count
        if count < _BATCH:
            break
    logger.info("run_logs_cleared", extra={"runs": cleared, "retention_days": days})
    return cleared
