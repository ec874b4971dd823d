"""Benchmark: GET /api/runs/{id}/ (a run's version, params, output and log lines) over
1,000,000 deals with 6 pipeline runs each, every run with what its stage recorded.

Asks for runs drawn at random from the whole table (TABLESAMPLE), one request at a time
over a kept-alive connection to gunicorn, and prints:
- SQL queries per request, counted in process as Django runs them (authentication apart);
- the plan of the run's read (EXPLAIN ANALYZE): the primary key, not a scan;
- latency p50/p99 (client side: request sent to last byte), and the floor: the same read
  straight through psycopg (executed, row fetched), in the same run, alternating with the
  requests so both see the same machine;
then compares with the targets (p99 <= 25 ms; 1 query besides authentication) and exits 1
when one is missed.

    .venv/bin/python bench/run_detail.py [--deals 1000000] [--samples 1000] [--rebuild]

Shares the queue benchmarks' database (vcc_bench_queue in var/bench-queue/, or
BENCH_DATABASE_URL / BENCH_BROKER_URL; bench/queue_server.py), loaded once and kept.
"""

import argparse
import io
import os
import sys
import time
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
from support import bench_token, percentiles, scalar

P99_TARGET_MS = 25.0
QUERIES_TARGET = 1
RUN_SQL = "SELECT * FROM pipeline_runs WHERE id = %s"


def sample_runs(url: str, count: int) -> list[str]:
    """Run ids from all over the table, the failed and running ones among them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id::text FROM pipeline_runs TABLESAMPLE SYSTEM (0.5) "
            "ORDER BY random() LIMIT %s",
            [count],
        ).fetchall()
    return [row[0] for row in rows]


def queries_per_request(run_id: str, token: str) -> tuple[int, int]:
    """(queries, of which authentication) for one request, in process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/api/runs/{run_id}/").status_code == 200
    auth = sum("authtoken_token" in q["sql"] for q in captured.captured_queries)
    return len(captured), auth


def measure(url: str, run_ids: list[str], token: str) -> tuple[list[float], list[float], int]:
    """(request ms, floor ms) per run, and the bytes of the largest answer."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    latency, floor, largest = [], [], 0
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for n, run_id in enumerate([*run_ids[:20], *run_ids]):
            started = time.perf_counter()
            cursor.execute(RUN_SQL, [run_id])
            assert cursor.fetchone() is not None
            floor_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            response = session.get(f"{BASE}/api/runs/{run_id}/", timeout=10)
            latency_ms = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if n >= 20:  # after a warm-up
                floor.append(floor_ms)
                latency.append(latency_ms)
                largest = max(largest, len(response.content))
    return latency, floor, largest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="load the data again")
    parser.add_argument("--database", default=DATABASE, help="kept between runs")
    parser.add_argument("--samples", type=int, default=1000, help="runs asked for")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args()
    cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    engines = start_engines(args.database)
    prepare_database(engines, args.deals, args.rebuild)
    django_setup(engines)
    token = bench_token()
    run_ids = sample_runs(engines.conninfo, args.samples)
    with psycopg.connect(engines.conninfo) as conn:
        runs = scalar(
            conn, "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", ["pipeline_runs"]
        )
        print(f"pipeline_runs: about {runs:,} rows; {len(run_ids)} drawn at random")
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + RUN_SQL, [run_ids[0]]).fetchall()
    print("\n== plan of the run's read (EXPLAIN ANALYZE)")
    print("\n".join(row[0] for row in plan))
    queries, auth = queries_per_request(run_ids[0], token)
    print(f"\nqueries per request: {queries - auth} (+{auth} authentication)")

    failures = []
    if queries - auth != QUERIES_TARGET:
        failures.append(f"{queries - auth} queries a request, not {QUERIES_TARGET}")
    if "pipeline_runs_pkey" not in "\n".join(row[0] for row in plan):
        failures.append("the run is not read by its primary key")
    gunicorn = start_gunicorn(engines, args.workers, reuse=True)
    try:
        latency, floor, largest = measure(engines.conninfo, run_ids, token)
    finally:
        stop_gunicorn(gunicorn)
    (l50, l99), (f50, f99) = percentiles(latency), percentiles(floor)
    print(f"\n== GET /api/runs/{{id}}/ ({len(latency)} sequential requests; ms)")
    print(f"request:   p50 {l50:6.2f}  p99 {l99:6.2f}  (target p99 {P99_TARGET_MS:.0f})")
    print(f"SQL floor: p50 {f50:6.2f}  p99 {f99:6.2f}  (the run's read through psycopg)")
    print(f"largest answer: {largest:,} bytes; load average {os.getloadavg()[0]:.1f} at the end")
    if l99 > P99_TARGET_MS:
        failures.append(f"p99 {l99:.1f} ms > {P99_TARGET_MS:.0f} ms")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: every target met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
