"""Reads of the insights' rollups (insights_models.py): the queue page's charts over the
last 24 hours (5-minute buckets) or 7 days (hourly), one query per chart, and the all-time
totals the metrics expose. Nothing here reads `pipeline_runs` or scans `deals`."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection

from .insights_models import ARRIVAL_SOURCES, DAY, FIVE_MINUTES, HOUR
from .models import STAGE_ORDER

# The views: (bucket width, buckets shown), the current bucket last.
RANGES: dict[str, tuple[int, int]] = {"24h": (FIVE_MINUTES, 288), "7d": (HOUR, 168)}
TOP_REASONS = 3


@dataclass(frozen=True)
class Window:
    width: int
    start: datetime  # the first bucket's start
    buckets: list[datetime]


def insights_window(*, range_name: str, now: datetime) -> Window:
    width, count = RANGES[range_name]
    epoch = datetime(2000, 1, 1, tzinfo=UTC)  # the rollups' date_bin origin
    last = epoch + timedelta(seconds=(now - epoch).total_seconds() // width * width)
    start = last - timedelta(seconds=width * (count - 1))
    return Window(width, start, [start + timedelta(seconds=width * i) for i in range(count)])


def insights_as_of() -> datetime | None:
    """When the rollups were last folded (the newest backlog sample): the ETag's source."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sampled_at FROM pipeline_backlog_samples ORDER BY bucket DESC LIMIT 1"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def insights_series(*, window: Window) -> dict:
    """Every chart's series but the backlog's, from the charts' rows (one a bucket, written
    by the fold): deals arrived per source and ended done and failed; each stage's
    succeeded runs' p50 and p95 (seconds; null where none ended: failed runs have their
    own chart); failed runs (final and retried) per stage."""
    size = len(window.buckets)
    index = {int(b.timestamp()): i for i, b in enumerate(window.buckets)}
    arrived = {source: [0] * size for source in ARRIVAL_SOURCES}
    done, failed = [0] * size, [0] * size
    empty: list[float | None] = [None] * size
    durations = {stage: {"p50": list(empty), "p95": list(empty)} for stage in STAGE_ORDER}
    by_stage = {stage: [0] * size for stage in STAGE_ORDER}
    # As one JSON text built by PostgreSQL: parsing it (orjson) costs a fraction of
    # decoding a few thousand array elements row by row.
    (text,) = _rows(
        "SELECT json_agg(json_build_array(extract(epoch FROM bucket)::bigint, arrived, done,"
        " failed, p50, p95, failed_runs))::text FROM insight_buckets"
        " WHERE width = %(w)s AND bucket >= %(start)s",
        {"w": window.width, "start": window.start},
    )[0]
    for epoch, arrivals, done_n, failed_n, p50, p95, failures in orjson.loads(text or "[]"):
        i = index.get(epoch)
        if i is None:
            continue
        for source, n in zip(ARRIVAL_SOURCES, arrivals, strict=False):
            arrived[source][i] = n
        done[i], failed[i] = done_n, failed_n
        for s, stage in enumerate(STAGE_ORDER):
            durations[stage]["p50"][i] = p50[s]
            durations[stage]["p95"][i] = p95[s]
            by_stage[stage][i] = failures[s]
    return {
        "arrived": arrived,
        "done": done,
        "failed": failed,
        "durations": durations,
        "failures_by_stage": by_stage,
    }


_TOP_REASONS_SQL = """
SELECT stage, reason, runs, failed, retried FROM (
    SELECT stage, reason, sum(runs)::bigint AS runs,
        (sum(runs) FILTER (WHERE outcome = 'failed'))::bigint AS failed,
        (sum(runs) FILTER (WHERE outcome = 'retried'))::bigint AS retried,
        row_number() OVER (PARTITION BY stage ORDER BY sum(runs) DESC, reason) AS rank
    FROM pipeline_failure_rollups
    -- Whole days from daily rows, whole hours before them from hourly ones, the window's
    -- first part-hour from 5-minute ones: exact, and a few rows a day.
    WHERE (width = %(day)s AND bucket >= %(whole_day)s)
       OR (width = %(hour)s AND bucket >= %(whole_hour)s AND bucket < %(whole_day)s)
       OR (width = %(fine)s AND bucket >= %(start)s AND bucket < %(whole_hour)s)
    GROUP BY stage, reason
) AS ranked WHERE rank <= %(top)s
"""


def insights_top_reasons(*, window: Window) -> dict[str, list[dict]]:
    """Each stage's most frequent failure reasons over the window (runs, of which final
    and retried), most first."""
    top: dict[str, list[dict]] = {stage: [] for stage in STAGE_ORDER}
    start = window.start
    params = {
        "day": DAY,
        "whole_day": start + timedelta(seconds=-start.timestamp() % DAY),
        "hour": HOUR,
        "whole_hour": start + timedelta(seconds=-start.timestamp() % HOUR),
        "fine": FIVE_MINUTES,
        "start": start,
        "top": TOP_REASONS,
    }
    rows = _rows(_TOP_REASONS_SQL, params)
    for stage, reason, runs, failed, retried in rows:
        top.setdefault(stage, []).append(
            {
                "reason": reason or "no reason recorded",
                "runs": runs,
                "failed": failed or 0,
                "retried": retried or 0,
            }
        )
    for items in top.values():
        items.sort(key=lambda item: (-item["runs"], item["reason"]))
    return top


def insights_backlog(*, window: Window) -> dict:
    """Pending deals and the oldest one's wait per bucket (the last sample of a 5-minute
    bucket; an hour's largest), null where nothing was sampled."""
    index = {b: i for i, b in enumerate(window.buckets)}
    pending: list[int | None] = [None] * len(window.buckets)
    oldest: list[float | None] = [None] * len(window.buckets)
    rows = _rows(
        "SELECT date_bin(make_interval(secs => %(w)s), bucket, "
        "TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, max(pending), "
        "max(EXTRACT(EPOCH FROM sampled_at - oldest_pending_at))::float8 "
        "FROM pipeline_backlog_samples WHERE bucket >= %(start)s GROUP BY 1",
        {"w": window.width, "start": window.start},
    )
    for bucket, count, age in rows:
        i = index.get(bucket)
        if i is None:
            continue
        pending[i] = count
        oldest[i] = round(age, 1) if age is not None else 0.0
    return {"pending": pending, "oldest_pending_seconds": oldest}


@dataclass(frozen=True)
class RunTotal:
    stage: str
    outcome: str
    bin: int
    runs: int
    seconds: float


def pipeline_run_totals() -> list[RunTotal]:
    """Every run ever ended, per stage, outcome and duration bin, as of the last fold."""
    rows = _rows("SELECT stage, outcome, bin, runs, seconds FROM pipeline_run_totals", {})
    return [RunTotal(*row) for row in rows]


def deal_event_totals() -> dict[tuple[str, str], int]:
    """Deals ever arrived per source, and ended done and failed, as of the last fold."""
    rows = _rows("SELECT event, source, deals FROM deal_event_rollups WHERE width = 0", {})
    return {(event, source): deals for event, source, deals in rows}
