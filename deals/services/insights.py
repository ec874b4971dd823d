"""The insights' rollups: the fold of every change the triggers (and the HubSpot upsert's
statement, ingest.py, for arrivals) append into 5-minute, hourly and all-time rows
(insights_models.py), the charts' rows and a sample of the backlog. Beat folds every
INSIGHTS_FOLD_INTERVAL_SECONDS."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from ..insights_models import (
    ARRIVAL_SOURCES,
    DAY,
    DURATION_BOUNDS,
    FIVE_MINUTES,
    HOUR,
    DealEvent,
    RunOutcome,
)
from ..models import STAGE_ORDER
from ..selectors import pipeline_backlog

# pg advisory lock namespace for the fold (0x5643_4301 deals, 0x5643_4302 the counts').
_FOLD_LOCK = (0x5643_4303, 0)

# How long rollups are kept: the 24-hour view reads 5-minute rows, the 7-day view hourly
# (and the top reasons whole days from daily rows).
KEEP = {FIVE_MINUTES: timedelta(days=2), HOUR: timedelta(days=8), DAY: timedelta(days=9)}

# The upsert's `source` (hubspot/ingest.py callers) as the charts name it.
SOURCES = {
    "hubspot_sync": "sync",
    "hubspot_webhook": "webhook",
    "hubspot_import": "import",
    "hubspot_reconcile": "reconcile",
}

_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def _bin(width: int, column: str) -> str:
    return f"date_bin('{width} seconds', {column}, {_ORIGIN})"


def _rollup(name: str, source: str, width: int, time: str, keys: str, sums: str) -> str:
    """One INSERT ... ON CONFLICT adding the folded rows' sums into one width's rows."""
    bucket = _bin(width, time) if width else _ORIGIN
    sets = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in sums.split(", "))
    values = ", ".join(f"sum({c})" if c != "runs" else "count(*)" for c in sums.split(", "))
    return f"""INSERT INTO {name} AS r (width, bucket, {keys}, {sums})
        SELECT {width}, {bucket}, {keys}, {values} FROM {source}
        GROUP BY {keys}, 2 ON CONFLICT (width, bucket, {keys}) DO UPDATE SET {sets}"""


_FOLD_SQL = f"""
WITH runs AS (DELETE FROM pipeline_run_changes RETURNING *),
failed AS (SELECT * FROM runs WHERE reason IS NOT NULL),
events AS (DELETE FROM deal_event_changes RETURNING *),
r5 AS ({_rollup("pipeline_run_rollups", "runs", FIVE_MINUTES, "ended_at", "stage, outcome, bin", "runs, seconds")}),
rh AS ({_rollup("pipeline_run_rollups", "runs", HOUR, "ended_at", "stage, outcome, bin", "runs, seconds")}),
rt AS (
    INSERT INTO pipeline_run_totals AS r (stage, outcome, bin, runs, seconds)
    SELECT stage, outcome, bin, count(*), sum(seconds) FROM runs GROUP BY 1, 2, 3
    ON CONFLICT (stage, outcome, bin)
    DO UPDATE SET runs = r.runs + EXCLUDED.runs, seconds = r.seconds + EXCLUDED.seconds
),
f5 AS ({_rollup("pipeline_failure_rollups", "failed", FIVE_MINUTES, "ended_at", "stage, outcome, reason", "runs")}),
fh AS ({_rollup("pipeline_failure_rollups", "failed", HOUR, "ended_at", "stage, outcome, reason", "runs")}),
fd AS ({_rollup("pipeline_failure_rollups", "failed", DAY, "ended_at", "stage, outcome, reason", "runs")}),
e5 AS ({_rollup("deal_event_rollups", "events", FIVE_MINUTES, "at", "event, source", "deals")}),
eh AS ({_rollup("deal_event_rollups", "events", HOUR, "at", "event, source", "deals")}),
et AS ({_rollup("deal_event_rollups", "events", 0, "at", "event, source", "deals")})
SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events), ARRAY(
    SELECT DISTINCT {_bin(FIVE_MINUTES, "t")}
    FROM (SELECT ended_at AS t FROM runs UNION ALL SELECT at FROM events) AS touched
)
"""  # noqa: E501

_SAMPLE_SQL = f"""
INSERT INTO pipeline_backlog_samples AS s (bucket, sampled_at, pending, running, oldest_pending_at)
VALUES ({_bin(FIVE_MINUTES, "%(now)s")}, %(now)s, %(pending)s, %(running)s, %(oldest)s)
ON CONFLICT (bucket) DO UPDATE SET sampled_at = EXCLUDED.sampled_at,
    pending = EXCLUDED.pending, running = EXCLUDED.running,
    oldest_pending_at = EXCLUDED.oldest_pending_at
"""

_PRUNED = (
    "pipeline_run_rollups",
    "pipeline_failure_rollups",
    "deal_event_rollups",
    "insight_buckets",
)


def insights_fold(*, now: datetime) -> tuple[int, int] | None:
    """Fold every committed change into the rollups, sample the backlog as of `now` and
    drop rows older than the views read, in one transaction. Returns the runs and deal
    events folded, or None when another fold is running (then it does this one's work).

    Changes committed meanwhile are not visible to the DELETEs and stay for the next fold.
    Who else races here: other folds (beat ticks that overlap), kept out by the lock; the
    triggers and the upsert only append.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _FOLD_LOCK)
        (taken,) = cursor.fetchone()
        if not taken:
            return None
        cursor.execute(_FOLD_SQL)
        runs, events, touched = cursor.fetchone()
        _summaries_refresh(cursor, FIVE_MINUTES, touched)
        _summaries_refresh(cursor, HOUR, sorted({_floor(b, HOUR) for b in touched}))
        backlog = pipeline_backlog()
        cursor.execute(
            _SAMPLE_SQL,
            {
                "now": now,
                "pending": backlog.pending,
                "running": backlog.running,
                "oldest": backlog.oldest_pending_at,
            },
        )
        for width, keep in KEEP.items():
            for table in _PRUNED:
                cursor.execute(
                    f"DELETE FROM {table} WHERE width = %s AND bucket < %s", [width, now - keep]
                )
        cursor.execute("DELETE FROM pipeline_backlog_samples WHERE bucket < %s", [now - KEEP[HOUR]])
    return runs, events


def insights_summaries_rebuild(*, since: datetime) -> int:
    """Recompute the charts' rows of every bucket from `since` on, from the rollups (after
    rollups were written some other way: a bulk seed, a repair). Returns the rows written."""
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for width in (FIVE_MINUTES, HOUR):
            cursor.execute(
                "SELECT DISTINCT bucket FROM pipeline_run_rollups WHERE width = %s AND bucket >= %s"
                " UNION SELECT DISTINCT bucket FROM deal_event_rollups"
                " WHERE width = %s AND bucket >= %s",
                [width, since, width, since],
            )
            buckets = [row[0] for row in cursor.fetchall()]
            _summaries_refresh(cursor, width, buckets)
            written += len(buckets)
    return written


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _floor(at: datetime, width: int) -> datetime:
    return _EPOCH + timedelta(seconds=(at - _EPOCH).total_seconds() // width * width)


def _summaries_refresh(cursor: CursorWrapper, width: int, buckets: list[datetime]) -> None:
    """Write the charts' row of each bucket from its rollup rows (a few dozen a bucket)."""
    if not buckets:
        return
    params: list[Any] = [width, buckets]
    cursor.execute(
        "SELECT bucket, stage, outcome, bin, runs FROM pipeline_run_rollups"
        " WHERE width = %s AND bucket = ANY(%s)",
        params,
    )
    succeeded: dict[tuple[datetime, str], dict[int, int]] = {}
    failed_runs: dict[datetime, dict[str, int]] = {}
    for bucket, stage, outcome, bin_, runs in cursor.fetchall():
        if outcome == RunOutcome.SUCCEEDED:
            succeeded.setdefault((bucket, stage), {})[bin_] = runs
        else:
            by_stage = failed_runs.setdefault(bucket, {})
            by_stage[stage] = by_stage.get(stage, 0) + runs
    cursor.execute(
        "SELECT bucket, event, source, deals FROM deal_event_rollups"
        " WHERE width = %s AND bucket = ANY(%s)",
        params,
    )
    events: dict[datetime, dict[tuple[str, str], int]] = {}
    for bucket, event, source, deals in cursor.fetchall():
        events.setdefault(bucket, {})[(event, source)] = deals
    rows = []
    for bucket in buckets:
        flow = events.get(bucket, {})
        bins = [succeeded.get((bucket, stage), {}) for stage in STAGE_ORDER]
        rows.append(
            (
                width,
                bucket,
                [flow.get((DealEvent.ARRIVED, source), 0) for source in ARRIVAL_SOURCES],
                flow.get((DealEvent.DONE, ""), 0),
                flow.get((DealEvent.FAILED, ""), 0),
                [histogram_quantile(b, 0.5) for b in bins],
                [histogram_quantile(b, 0.95) for b in bins],
                [failed_runs.get(bucket, {}).get(stage, 0) for stage in STAGE_ORDER],
            )
        )
    cursor.executemany(
        "INSERT INTO insight_buckets (width, bucket, arrived, done, failed, p50, p95,"
        " failed_runs) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (width, bucket) DO UPDATE SET arrived = EXCLUDED.arrived,"
        " done = EXCLUDED.done, failed = EXCLUDED.failed, p50 = EXCLUDED.p50,"
        " p95 = EXCLUDED.p95, failed_runs = EXCLUDED.failed_runs",
        rows,
    )


def histogram_quantile(bins: dict[int, int], q: float) -> float | None:
    """The q-quantile of durations counted per bin (DURATION_BOUNDS), interpolating inside
    its bin as Prometheus' histogram_quantile does; the open last bin answers its lower
    bound. None without any count."""
    total = sum(bins.values())
    if not total:
        return None
    rank, below = q * total, 0
    for bin_ in sorted(bins):
        n = bins[bin_]
        if below + n >= rank and n:
            if bin_ >= len(DURATION_BOUNDS):
                return DURATION_BOUNDS[-1]
            lower = DURATION_BOUNDS[bin_ - 1] if bin_ > 0 else 0.0
            upper = DURATION_BOUNDS[bin_]
            return round(lower + (upper - lower) * (rank - below) / n, 4)
        below += n
    return DURATION_BOUNDS[-1]
