"""Bench data for the queue endpoint: N deals with 6 pipeline runs each, made in SQL.

Everything is generated inside PostgreSQL (INSERT ... SELECT generate_series), with the
tables' indexes and constraints dropped during the load and rebuilt after it, exactly as
the migrations defined them (read back from the catalog). 1,000,000 deals load in about
two minutes on a small machine.

The deals are shaped like a busy queue: 50 deals share each updated_at (bulk upserts),
1% failed at appraisal after three attempts, 1% running (their last run is open), 1%
pending a re-run, the rest done. Every run records what its stage did, as the example
stages do (deals/example_stages.py): version, params, output (when it succeeded) and a log
line, so the queue is measured with them present and GET /api/runs/{id}/ has them to read.
"""

import json
import time

import psycopg
from support import scalar

TABLES = ("deals", "pipeline_passes", "pipeline_runs")

_STAGES = ("intake", "segmentation", "categorization", "appraisal", "review", "done")
_FULL_PASS: list[tuple[str, int, str, str | None]] = [
    (stage, 1, "succeeded", None) for stage in _STAGES
]
_TIMEOUT = "appraisal service timed out after 30s"
# For each deal status, its six runs in order: (stage, attempt, run status, error).
RUNS_BY_STATUS: dict[str, list[tuple[str, int, str, str | None]]] = {
    "done": _FULL_PASS,
    "pending": _FULL_PASS,  # a re-run queued after a full pass
    "running": [*_FULL_PASS[:5], ("done", 1, "running", None)],  # the last run still open
    "failed": _FULL_PASS[:3] + [("appraisal", n, "failed", _TIMEOUT) for n in (1, 2, 3)],
}

DEALS_SQL = """
INSERT INTO deals (id, hubspot_deal_id, name, amount, deal_stage, hubspot_created_at,
                   hubspot_checked_in_at, status, current_stage, enqueued_at, created_at,
                   updated_at, current_pass_id)
SELECT gen_random_uuid(), (20000000000 + g)::text, 'Bench deal ' || g, 1250.00,
       'appointmentscheduled', t - interval '2 days', t - interval '1 hour', status,
       CASE status WHEN 'failed' THEN 'appraisal' WHEN 'pending' THEN 'intake' ELSE 'done' END,
       t - interval '2 minutes', t - interval '2 minutes', t, gen_random_uuid()
FROM (
  SELECT g,
         -- deal 1 is the newest; every 50 consecutive deals share one updated_at
         timestamptz '2026-01-01 00:00:00+00' + ((%(n)s - g) / 50) * interval '1 second' AS t,
         CASE g %% 100 WHEN 0 THEN 'failed' WHEN 1 THEN 'running' WHEN 2 THEN 'pending'
                       ELSE 'done' END AS status
  FROM generate_series(1, %(n)s) AS g
) AS source
"""

# One pass a deal, holding its six runs.
PASSES_SQL = """
INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at, from_stage)
SELECT current_pass_id, id, 'new', '', created_at, 'intake' FROM deals
"""

# What each stage records on a run, as the example stages (deals/example_stages.py) do:
# its version and params, its output when it succeeded, its log lines (a line or two).
_PARAMS = {
    "intake": {"name_max_length": 200},
    "segmentation": {
        "bands": [[0, "small"], [10000, "mid"], [50000, "large"], [150000, "enterprise"]]
    },
    "categorization": {
        "categories": {
            "appointmentscheduled": "early",
            "qualifiedtobuy": "early",
            "presentationscheduled": "engaged",
            "decisionmakerboughtin": "engaged",
            "contractsent": "committed",
            "closedwon": "won",
            "closedlost": "lost",
        },
        "default": "unknown",
    },
    "appraisal": {
        "likelihood": {"early": 0.2, "engaged": 0.5, "committed": 0.8, "won": 1.0, "lost": 0.0},
        "confidence": {"small": 0.9, "mid": 0.8, "large": 0.7, "enterprise": 0.6},
    },
    "review": {"min_confidence": 0.5, "hold_categories": ["lost", "unknown"], "max_figure": 100000},
    "done": {},
}
_OUTPUTS = {
    "intake": {
        "name": "Bench deal",
        "amount": "1250.00",
        "deal_stage": "appointmentscheduled",
        "checked_in_at": "2026-01-01T00:00:00+00:00",
    },
    "segmentation": {"segment": "small", "amount": "1250.00", "band_from": 0},
    "categorization": {"category": "early", "deal_stage": "appointmentscheduled"},
    "appraisal": {"figure": "250.00", "confidence": 0.9, "segment": "small", "category": "early"},
    "review": {"decision": "pass", "reasons": []},
    "done": {
        "decision": "pass",
        "segment": "small",
        "category": "early",
        "figure": "250.00",
        "confidence": 0.9,
    },
}
_LOG_MESSAGES = {
    "intake": "name, amount and checked-in time present; amount 1250.00",
    "segmentation": "amount 1250.00 is in the small band (from 0)",
    "categorization": "HubSpot deal stage appointmentscheduled is early",
    "appraisal": "1250.00 x 0.2 (early) = 250.00; confidence 0.9 (small)",
    "review": "pass",
    "done": "outcome: pass, figure 250.00",
}

RUNS_SQL = """
INSERT INTO pipeline_runs (id, deal_id, pass_id, stage, status, started_at, ended_at, error,
                           attempt, stage_version, params, output, log_lines)
SELECT gen_random_uuid(), d.id, d.current_pass_id, plan.stage, plan.status, started, ended,
       plan.error, plan.attempt, '1', plan.params::jsonb,
       CASE WHEN plan.status = 'succeeded' THEN plan.output::jsonb END,
       CASE WHEN plan.status = 'running' THEN NULL ELSE jsonb_build_array(
         jsonb_build_object('at', started + interval '2 seconds', 'level', 'info',
                            'message', plan.message)) END
FROM deals AS d
JOIN unnest(%(kind)s::text[], %(k)s::int[], %(stage)s::text[], %(attempt)s::int[],
            %(status)s::text[], %(error)s::text[], %(params)s::text[], %(output)s::text[],
            %(message)s::text[])
     AS plan(kind, k, stage, attempt, status, error, params, output, message)
     ON plan.kind = d.status
CROSS JOIN LATERAL (
  SELECT d.updated_at - (7 - plan.k) * interval '10 seconds' AS started,
         CASE WHEN plan.status = 'running' THEN NULL
              ELSE d.updated_at - (7 - plan.k) * interval '10 seconds' + interval '4 seconds'
         END AS ended
) AS times
"""


def _run_plan() -> dict[str, list]:
    """RUNS_BY_STATUS as the columns RUNS_SQL unnests."""
    rows = [
        (
            kind,
            k,
            *run,
            json.dumps(_PARAMS[run[0]]),
            json.dumps(_OUTPUTS[run[0]]),
            run[3] or _LOG_MESSAGES[run[0]],
        )
        for kind, runs in RUNS_BY_STATUS.items()
        for k, run in enumerate(runs, start=1)
    ]
    names = ("kind", "k", "stage", "attempt", "status", "error", "params", "output", "message")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def loaded(conn: psycopg.Connection, deals: int) -> bool:
    count = scalar(conn, "SELECT count(*) FROM deals")
    runs = scalar(conn, "SELECT count(*) FROM pipeline_runs")
    # Data from before runs recorded their stages' outputs is loaded again.
    with_outputs = conn.execute(
        "SELECT 1 FROM pipeline_runs WHERE output IS NOT NULL LIMIT 1"
    ).fetchone()
    return count == deals and runs == 6 * deals and with_outputs is not None


def _schema_objects(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
    """(constraints, indexes) of the tables, as (table, name, definition), to drop and rebuild;
    with the foreign keys of other tables into them (deal_writebacks'), which hold their keys."""
    constraints = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
           FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s)
             OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY(%s))""",
        [list(TABLES), list(TABLES)],
    ).fetchall()
    indexes = conn.execute(
        """SELECT tablename, indexname, indexdef FROM pg_indexes
           WHERE tablename = ANY(%s) AND indexname NOT IN (
             SELECT conname FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s))""",
        [list(TABLES), list(TABLES)],
    ).fetchall()
    # Foreign keys last when rebuilding: they need the primary keys.
    constraints.sort(key=lambda row: row[3] == "f")
    return [row[:3] for row in constraints], indexes


def load(url: str, *, deals: int) -> float:
    """Replace the bench tables' rows with `deals` deals x 6 runs; returns seconds taken."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        constraints, indexes = _schema_objects(conn)
        conn.execute("TRUNCATE deals, pipeline_passes, pipeline_runs CASCADE")
        for table, name, _ in reversed(constraints):
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for _, name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')

        step = time.monotonic()
        conn.execute(DEALS_SQL, {"n": deals})
        conn.execute(PASSES_SQL)
        print(f"  deals and passes inserted in {time.monotonic() - step:.0f}s", flush=True)
        step = time.monotonic()
        # Bulk-loaded history is not work happening: the insights' trigger stays out of it
        # (bench/insights_endpoint.py seeds the rollups in bulk instead).
        conn.execute("ALTER TABLE pipeline_runs DISABLE TRIGGER pipeline_run_inserted_ended")
        try:
            conn.execute(RUNS_SQL, _run_plan())
        finally:
            conn.execute("ALTER TABLE pipeline_runs ENABLE TRIGGER pipeline_run_inserted_ended")
        print(f"  runs inserted in {time.monotonic() - step:.0f}s", flush=True)

        step = time.monotonic()
        for table, name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, _, definition in indexes:
            conn.execute(definition)
        print(f"  indexes and constraints rebuilt in {time.monotonic() - step:.0f}s", flush=True)
        step = time.monotonic()
        conn.execute("VACUUM (ANALYZE) deals")
        conn.execute("VACUUM (ANALYZE) pipeline_runs")
        conn.execute("VACUUM (ANALYZE) pipeline_passes")
        print(f"  vacuumed and analyzed in {time.monotonic() - step:.0f}s", flush=True)
    return time.monotonic() - started
