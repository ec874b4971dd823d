"""Benchmark: 10,000 deals through the pipeline (stub stages) with 2 worker processes.

Prints deals/s end to end (first enqueue to last deal done), database transactions per
deal (write transactions, and all commits including autocommit reads), the CPU each part
used, and compares with the floor of 50 deals/s in the same run; exits 1 below it.

    .venv/bin/python bench/pipeline_throughput.py [--deals 10000] [--concurrency 2]

Uses its own database (vcc_bench_pipeline, recreated each run) on embedded PostgreSQL and
Redis in var/bench-pipeline/, or on BENCH_DATABASE_URL / BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import os
import subprocess
import sys
import time

import psycopg
from support import (
    ROOT,
    BenchEngines,
    cpu_seconds,
    load_average,
    postgres_cpu,
    process_tree,
    scalar,
)

FLOOR = 50.0  # deals per second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="synchronous_commit=off on the bench database, to show what WAL flushes cost",
    )
    args = parser.parse_args()

    engines = BenchEngines("pipeline", database="vcc_bench_pipeline")
    engines.recreate_database()
    env = {
        **engines.env,
        "PIPELINE_DEMO_STAGE_SECONDS": "0",
        "HUBSPOT_ACCESS_TOKEN": "bench-unused",  # a worker serving syncs needs one
    }
    url = engines.conninfo
    if args.async_commit:
        with psycopg.connect(engines.admin_conninfo, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {engines.database} SET synchronous_commit = off")
    with psycopg.connect(url, autocommit=True) as conn:
        # Each with its first pass, as ingestion makes them.
        conn.execute(
            """
            WITH made AS (
                INSERT INTO deals (id, hubspot_deal_id, name, amount, hubspot_checked_in_at,
                                   status, current_stage, current_pass_id, created_at,
                                   updated_at)
                SELECT gen_random_uuid(), (100000000 + n)::text, 'Bench deal ' || n, 1000,
                       now(), 'pending', 'intake', gen_random_uuid(), now(), now()
                FROM generate_series(1, %s) AS n
                RETURNING id, current_pass_id
            )
            INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at,
                                         from_stage)
            SELECT current_pass_id, id, 'new', '', now(), 'intake' FROM made
            """,
            [args.deals],
        )
        ids = [str(row[0]) for row in conn.execute("SELECT id FROM deals")]

    os.environ.update(env)
    import django

    django.setup()
    from deals.tasks import process_deal
    from vcc.celery import app

    app.control.purge()
    log = open(ROOT / "var" / "bench-pipeline-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vcc",
            "worker",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("worker did not start; see var/bench-pipeline-worker.log")

        with psycopg.connect(url, autocommit=True) as conn:

            def stats() -> tuple[int, int]:
                commits = scalar(
                    conn,
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                    [engines.database],
                )
                xid = scalar(conn, "SELECT txid_current()")
                return commits, xid

            commits0, xid0 = stats()
            cpu_worker0 = cpu_seconds(process_tree(worker.pid))
            cpu_pg0 = postgres_cpu()
            started = time.monotonic()
            for deal_id in ids:
                process_deal.delay(deal_id)
            enqueued = time.monotonic() - started
            deadline = time.monotonic() + 30 * 60
            done = 0
            while done < args.deals:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {done} of {args.deals} deals done after 30 min")
                time.sleep(0.2)
                done = scalar(conn, "SELECT count(*) FROM deals WHERE status = 'done'")
            elapsed = time.monotonic() - started
            cpu_worker = cpu_seconds(process_tree(worker.pid)) - cpu_worker0
            cpu_pg = postgres_cpu() - cpu_pg0
            time.sleep(1.5)  # let pg_stat_database catch up (stats are flushed about once a second)
            commits1, xid1 = stats()
            failed = scalar(conn, "SELECT count(*) FROM deals WHERE status <> 'done'")
            runs = scalar(conn, "SELECT count(*) FROM pipeline_runs")
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    rate = args.deals / elapsed
    print(f"deals:                    {args.deals} with {args.concurrency} worker processes")
    print(f"enqueue time:             {enqueued:.1f} s ({args.deals / enqueued:.0f} jobs/s)")
    print(f"end to end:               {elapsed:.1f} s")
    print(f"throughput:               {rate:.1f} deals/s (floor {FLOOR:.0f})")
    print(f"pipeline_runs rows:       {runs} ({runs / args.deals:.1f} per deal)")
    print(f"write transactions/deal:  {(xid1 - xid0 - 1) / args.deals:.1f}")
    commits = (commits1 - commits0) / args.deals
    print(f"all commits/deal:         {commits:.1f} (autocommit reads included)")
    print(f"CPU, worker processes:    {cpu_worker:.1f} s ({cpu_worker / elapsed:.2f} cores)")
    print(f"CPU, postgres:            {cpu_pg:.1f} s ({cpu_pg / elapsed:.2f} cores)")
    print(f"machine cores:            {os.cpu_count()} (load average {load_average()})")
    if failed:
        print(f"FAIL: {failed} deals not done")
        return 1
    if rate < FLOOR:
        print(f"FAIL: {rate:.1f} deals/s is below the floor of {FLOOR:.0f}")
        return 1
    print("OK: above the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
