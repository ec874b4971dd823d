"""Benchmark: GET /api/insights/ (24h and 7d) and GET /metrics over 1,000,000 deals with
6 pipeline runs each, and the rollups a busy week leaves.

The deals and runs are the queue benchmarks' (bench/queue_data.py, kept between runs in
var/bench-queue/). The rollups are seeded in bulk with generate_series, shaped as 6M runs
spread over 7 days: every 5-minute bucket of the last 2 days and every hour of the last 8
has each stage's succeeded runs in 7 duration bins, failed and retried runs in 2 bins, 4
failure reasons per stage and outcome, arrivals from 4 sources, done and failed deals, and
a backlog sample every 5 minutes. Prints queries per request (in process), the view's
Server-Timing (authentication to body written) and the client's latency (connect to last
byte) p50/p99 for each range and for an unchanged poll (304), and /metrics' scrape time;
compares insights p99 with the target (20 ms, client side) and exits 1 above it.

    .venv/bin/python bench/insights_endpoint.py [--deals 1000000] [--rebuild] [--samples 400]

Uses the queue benchmarks' database (vcc_bench_queue; --database), loading the deals once.
"""

import argparse
import io
import os
import re
import sys
import time
from datetime import timedelta
from typing import cast

import psycopg
import requests
from queue_server import (
    BASE,
    DATABASE,
    django_setup,
    prepare_database,
    start_engines,
    start_gunicorn,
    stop_gunicorn,
)
from support import bench_token, load_average, percentiles, scalar, verdict

P99_TARGET_MS = 20.0
STAGES = ["intake", "segmentation", "categorization", "appraisal", "review", "done"]

SEED_SQL = """
TRUNCATE pipeline_run_rollups, pipeline_failure_rollups, deal_event_rollups,
    pipeline_run_totals, pipeline_backlog_samples, pipeline_run_changes, deal_event_changes;
WITH buckets AS (
    SELECT 300 AS width, b AS bucket FROM generate_series(
        date_bin('5 minutes', now(), timestamptz '2000-01-01') - interval '2 days',
        now(), interval '5 minutes') AS b
    UNION ALL
    SELECT 3600, b FROM generate_series(
        date_bin('1 hour', now(), timestamptz '2000-01-01') - interval '8 days',
        now(), interval '1 hour') AS b
), shape AS (  -- (outcome, bin, share of the bucket's runs)
    SELECT 'succeeded' AS outcome, bin, 0.9 / 7 AS share FROM generate_series(6, 12) AS bin
    UNION ALL SELECT 'failed', bin, 0.02 FROM generate_series(3, 4) AS bin
    UNION ALL SELECT 'retried', bin, 0.03 FROM generate_series(10, 11) AS bin
)
INSERT INTO pipeline_run_rollups (width, bucket, stage, outcome, bin, runs, seconds)
SELECT width, bucket, stage, outcome, bin,
    GREATEST(1, round(share * 500 * width / 300)), share * 500 * width / 300 * 0.4
FROM buckets CROSS JOIN unnest(%(stages)s::text[]) AS stage CROSS JOIN shape;

INSERT INTO pipeline_failure_rollups (width, bucket, stage, outcome, reason, runs)
SELECT width, bucket, stage, outcome, 'reason ' || r || ' of deal N', 1 + r * width / 300
FROM pipeline_run_rollups CROSS JOIN generate_series(1, 4) AS r
WHERE outcome <> 'succeeded' AND bin IN (3, 10);

INSERT INTO pipeline_failure_rollups (width, bucket, stage, outcome, reason, runs)
SELECT 86400, date_bin('1 day', bucket, timestamptz '2000-01-01'), stage, outcome, reason,
    sum(runs)
FROM pipeline_failure_rollups WHERE width = 3600 GROUP BY 2, 3, 4, 5;

INSERT INTO deal_event_rollups (width, bucket, event, source, deals)
SELECT DISTINCT width, bucket, e.event, e.source, 80 * width / 300
FROM pipeline_run_rollups CROSS JOIN (VALUES ('arrived', 'sync'), ('arrived', 'webhook'),
    ('arrived', 'import'), ('arrived', 'reconcile'), ('done', ''), ('failed', ''))
    AS e(event, source);
INSERT INTO deal_event_rollups (width, bucket, event, source, deals)
SELECT 0, timestamptz '2000-01-01', event, source, sum(deals) FROM deal_event_rollups
WHERE width = 300 GROUP BY 1, 2, 3, 4;

INSERT INTO pipeline_run_totals (stage, outcome, bin, runs, seconds)
SELECT stage, outcome, bin, sum(runs), sum(seconds) FROM pipeline_run_rollups
WHERE width = 3600 GROUP BY 1, 2, 3;

INSERT INTO pipeline_backlog_samples (bucket, sampled_at, pending, running, oldest_pending_at)
SELECT b, b + interval '4 minutes', 10000, 2, b - interval '3 minutes'
FROM generate_series(date_bin('5 minutes', now(), timestamptz '2000-01-01') - interval '8 days',
    now(), interval '5 minutes') AS b;
ANALYZE pipeline_run_rollups;
ANALYZE pipeline_failure_rollups;
ANALYZE deal_event_rollups;
ANALYZE pipeline_backlog_samples;
"""


def row(label: str, queries: str, *figures: object) -> None:
    cells = [f"{f:>12.2f}" if isinstance(f, float) else f"{f:>12}" for f in figures]
    print(f"{label:<22}{queries:>12}{''.join(cells)}")


def queries_per_request(path: str, params: dict, token: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params).status_code == 200
    auth = sum("authtoken_token" in q["sql"] for q in captured.captured_queries)
    return len(captured) - auth, auth


def measure(path: str, params: dict, headers: dict, samples: int) -> tuple[list, list, int]:
    server, client, status = [], [], 0
    with requests.Session() as session:
        for n in range(samples + 20):
            started = time.perf_counter()
            response = session.get(f"{BASE}{path}", params=params, headers=headers, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code in (200, 304), response.status_code
            status = response.status_code
            if n >= 20:  # after a warm-up
                client.append(elapsed)
                timing = re.search(r"app;dur=([\d.]+)", response.headers.get("Server-Timing", ""))
                server.append(float(timing[1]) if timing else elapsed)
    return server, client, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="load the deals again")
    parser.add_argument("--database", default=DATABASE, help="kept between runs")
    parser.add_argument("--samples", type=int, default=400, help="sequential requests each")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args()
    cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)

    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at the start")
    engines = start_engines(args.database)
    prepare_database(engines, args.deals, args.rebuild)
    with psycopg.connect(engines.conninfo, autocommit=True) as conn:
        started = time.monotonic()
        for statement in filter(str.strip, SEED_SQL.split(";\n")):
            seed = {"stages": STAGES} if "%(stages)s" in statement else None
            conn.execute(statement, seed)
        print(f"rollups: seeded in {time.monotonic() - started:.1f}s:", end="")
        for table in (
            "pipeline_run_rollups",
            "pipeline_failure_rollups",
            "deal_event_rollups",
            "pipeline_backlog_samples",
        ):
            print(f" {table} {scalar(conn, f'SELECT count(*) FROM {table}'):,}", end="")
        runs = scalar(conn, "SELECT sum(runs)::bigint FROM pipeline_run_rollups WHERE width = 3600")
        print(f"; {runs:,} runs in the hourly rows")
        deals = scalar(conn, "SELECT count(*) FROM deals")
        all_runs = scalar(conn, "SELECT count(*) FROM pipeline_runs")
        print(f"data: {deals:,} deals, {all_runs:,} pipeline_runs")
    django_setup(engines)
    from django.utils import timezone

    from deals.services import insights_summaries_rebuild

    started = time.monotonic()
    written = insights_summaries_rebuild(since=timezone.now() - timedelta(days=9))
    print(f"rollups: {written:,} chart rows built in {time.monotonic() - started:.1f}s")
    token = bench_token()
    headers = {"Authorization": f"Token {token}"}

    gunicorn = start_gunicorn(engines, args.workers, reuse=False)
    failures: list[str] = []
    try:
        print(f"\n== GET /api/insights/ ({args.samples} sequential requests each; ms)")
        row("request", "queries", "server p50", "p99", "client p50", "p99")
        for range_name in ("24h", "7d"):
            params = {"range": range_name}
            queries, auth = queries_per_request("/api/insights/", params, token)
            server, client, _ = measure("/api/insights/", params, headers, args.samples)
            etag = requests.get(f"{BASE}/api/insights/", params=params, headers=headers).headers[
                "ETag"
            ]
            (s50, s99), (c50, c99) = percentiles(server), percentiles(client)
            row(f"range={range_name}", f"{queries}+{auth} auth", s50, s99, c50, c99)
            if c99 > P99_TARGET_MS:
                failures.append(f"range={range_name}: client p99 {c99:.1f} ms > {P99_TARGET_MS} ms")
            server, client, status = measure(
                "/api/insights/", params, {**headers, "If-None-Match": etag}, args.samples
            )
            assert status == 304, status
            (s50, s99), (c50, c99) = percentiles(server), percentiles(client)
            print(
                f"{'  unchanged (304)':<22}{'':>12}{s50:>12.2f}{s99:>8.2f}{c50:>12.2f}{c99:>8.2f}"
            )

        samples = max(20, args.samples // 8)
        _, client, _ = measure("/metrics", {}, {}, samples)
        (c50, c99) = percentiles(client)
        size = len(requests.get(f"{BASE}/metrics", timeout=30).content)
        print(f"\n== GET /metrics ({samples} scrapes): p50 {c50:.1f} ms, p99 {c99:.1f} ms")
        print(f"   {size:,} bytes a scrape")
    finally:
        stop_gunicorn(gunicorn)
    print(f"load average at the end: {load_average()}")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
