"""For tests that run deals: check the insights' rollups against the runs and deals.

from deals.tests.insights import assert_insights_exact
...  # run deals, by whatever path
assert_insights_exact()
"""

from django.db import connection
from django.utils import timezone

from deals.services import insights_fold

_BOUNDS = "'{0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,30,60,120,300,600,1800,3600}'"
_RUNS_BY_GROUP_BY = f"""
SELECT date_bin(make_interval(secs => %s), ended_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    stage,
    CASE WHEN status = 'succeeded' THEN 'succeeded'
         WHEN retry_at IS NOT NULL OR error = 'worker lost' THEN 'retried' ELSE 'failed' END,
    width_bucket(GREATEST(EXTRACT(EPOCH FROM ended_at - started_at), 0), {_BOUNDS}::float8[]),
    count(*)
FROM pipeline_runs WHERE status <> 'running' GROUP BY 1, 2, 3, 4
"""


def _rows(sql: str, params: list) -> dict[tuple, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(row[:-1]): row[-1] for row in cursor.fetchall()}


def assert_insights_exact() -> None:
    """Folded, the 5-minute and hourly run rollups equal a GROUP BY over the ended runs
    (per bucket, stage, outcome and duration bin), the totals equal it summed over time,
    and the failure rollups count every failed run."""
    assert insights_fold(now=timezone.now()) is not None, "another fold held the lock"
    for width in (300, 3600):
        real = _rows(_RUNS_BY_GROUP_BY, [width])
        kept = _rows(
            "SELECT bucket, stage, outcome, bin, runs FROM pipeline_run_rollups WHERE width = %s",
            [width],
        )
        assert kept == real, {"kept": kept, "real": real}
        failed = _rows(
            "SELECT count(*) FROM pipeline_runs WHERE status = 'failed' AND %s > 0", [width]
        )
        kept_failed = _rows(
            "SELECT sum(runs)::bigint FROM pipeline_failure_rollups WHERE width = %s", [width]
        )
        assert (kept_failed.get(()) or 0) == (failed.get(()) or 0)
    daily = _rows("SELECT sum(runs)::bigint FROM pipeline_failure_rollups WHERE width = 86400", [])
    failed = _rows("SELECT count(*) FROM pipeline_runs WHERE status = 'failed'", [])
    assert (daily.get(()) or 0) == (failed.get(()) or 0)
    totals: dict[tuple, int] = {}
    for (_, stage, outcome, bin_), n in _rows(_RUNS_BY_GROUP_BY, [300]).items():
        totals[(stage, outcome, bin_)] = totals.get((stage, outcome, bin_), 0) + n
    kept_totals = _rows("SELECT stage, outcome, bin, runs FROM pipeline_run_totals", [])
    assert kept_totals == totals
