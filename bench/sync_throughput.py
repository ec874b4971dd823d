"""Benchmark: syncing 10,000 and 100,000 deals from the HubSpot simulator held at 5 searches/s.

For each size: wall time against the floor (search requests needed / allowed rate),
requests made, 429s met, peak RSS of the `sync_hubspot` process. Then the steady state
(bench/sync_steady.py): searches per poll with 10,000 deals checked in over 2 days, quiet
and at 10,000 check-ins a day, against the lookback re-read every poll did before. Then the
upsert rate alone (deals/s into an empty table, and re-upserting unchanged pages). Compares
with the targets in the same run and exits 1 if one is missed:
  - first sync wall time within 1.1x of the floor, zero 429s;
  - peak RSS not growing with the deal count (100k within 1.25x of 10k);
  - a quiet poll at most 2 searches.

    .venv/bin/python bench/sync_throughput.py [--sizes 10000 100000] [--client-rps 5]

Uses its own database (vcc_bench_sync, recreated per size) on embedded PostgreSQL and Redis
in var/bench-sync/, or on BENCH_DATABASE_URL / BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import math
import os
import subprocess
import sys
import time

import psycopg
from support import ROOT, BenchEngines, load_average, scalar, verdict
from sync_steady import steady_state

SIMULATOR_RPS = 5.0  # HubSpot's search limit per account
engines: BenchEngines  # set by main()


def run_sync(simulator, client_rps: float, *args: str) -> dict:
    env = {
        **engines.env,
        "LOG_LEVEL": "WARNING",
        "HUBSPOT_ACCESS_TOKEN": simulator.token,
        "HUBSPOT_BASE_URL": simulator.base_url,
        "HUBSPOT_SEARCH_RPS": str(client_rps),
        "HUBSPOT_BOOTSTRAP_DAYS": "30",
    }
    simulator.reset_stats()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_hubspot", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait4 gives the child's own peak RSS (kilobytes on Linux).
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    assert process.stdout is not None and process.stderr is not None  # PIPEs
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"sync_hubspot failed:\n{out}\n{err}")
    with psycopg.connect(engines.conninfo) as conn:
        row = conn.execute(
            "SELECT requests, rate_limited, fetched, new, pages,"
            " EXTRACT(EPOCH FROM finished_at - started_at) FROM sync_runs"
            " ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        deals = scalar(conn, "SELECT count(*) FROM deals")
    assert row is not None, "the sync recorded no run"
    requests, rate_limited, fetched, new, pages, sync_seconds = row
    return {
        "summary": out.strip().splitlines()[-1],
        "wall": wall,
        "sync_seconds": float(sync_seconds),
        "requests": requests,
        "rate_limited": rate_limited,
        "served_429": simulator.stats().get("rate_limited"),
        "fetched": fetched,
        "new": new,
        "deals": deals,
        "pages": pages,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def upsert_rate(count: int) -> tuple[float, float]:
    """Deals/s of the page upsert alone: into an empty table, then the same pages unchanged."""
    import django

    engines.use_in_this_process()
    django.setup()
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from django.db import transaction

    from hubspot.ingest import hubspot_deals_upsert
    from hubspot.types import HubspotDeal

    engines.recreate_database()
    now = datetime.now(UTC)
    pages = [
        [
            HubspotDeal(
                hubspot_deal_id=str(10_000_000 + n),
                name=f"Deal {n}",
                amount=Decimal(n % 5000),
                deal_stage="appointmentscheduled",
                hubspot_created_at=now - timedelta(days=3),
                updated_at=now,
                hubspot_checked_in_at=now - timedelta(seconds=n),
                properties={},
            )
            for n in range(start, start + 200)
        ]
        for start in range(0, count, 200)
    ]
    rates = []
    for _ in range(2):
        started = time.perf_counter()
        for page in pages:
            with transaction.atomic():
                hubspot_deals_upsert(deals=page, now=now, source="bench")
        rates.append(count / (time.perf_counter() - started))
    return rates[0], rates[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--client-rps", type=float, default=SIMULATOR_RPS)
    args = parser.parse_args()
    global engines
    engines = BenchEngines("sync", database="vcc_bench_sync")
    engines.use_in_this_process()
    from hubspot.simulator.process import start_simulator

    results = {}
    for size in args.sizes:
        engines.recreate_database()
        extra = ["--search-rps", str(SIMULATOR_RPS), "--days", "20", "--missing-amount-share", "0"]
        with start_simulator(deals=size, seed=100, extra_args=extra, startup_timeout=180) as sim:
            results[size] = run_sync(sim, args.client_rps)
        engines.flush_broker()  # the fan-out jobs nobody will run

    failures = []
    print(f"simulator search limit {SIMULATOR_RPS}/s; client limiter {args.client_rps}/s")
    print(f"load average {load_average()} on {os.cpu_count()} cores")
    for size, r in results.items():
        floor = math.ceil(size / 200) / SIMULATOR_RPS
        ratio = r["sync_seconds"] / floor
        print(f"\n{size:,} deals: {r['summary']}")
        print(f"  sync wall time      {r['sync_seconds']:.1f} s (process {r['wall']:.1f} s)")
        print(f"  floor               {floor:.1f} s ({math.ceil(size / 200)} requests / 5 per s)")
        print(f"  ratio to floor      {ratio:.3f} (target <= 1.1)")
        print(f"  requests            {r['requests']} in {r['pages']} pages")
        print(f"  429s met            {r['rate_limited']} (simulator served {r['served_429']})")
        print(f"  peak RSS            {r['rss_mb']:.0f} MB")
        if r["deals"] != size or r["new"] != size:
            failures.append(f"{size}: {r['deals']} deals stored, {r['new']} new")
        if ratio > 1.1:
            failures.append(f"{size}: {ratio:.3f}x the floor")
        if r["rate_limited"]:
            failures.append(f"{size}: {r['rate_limited']} 429s")
    if len(results) > 1:
        small, big = min(results), max(results)
        growth = results[big]["rss_mb"] / results[small]["rss_mb"]
        print(f"\npeak RSS {big:,} / {small:,} deals: {growth:.2f}x (target <= 1.25)")
        if growth > 1.25:
            failures.append(f"peak RSS grew {growth:.2f}x")

    engines.recreate_database()
    failures += steady_state(engines, run_sync, client_rps=args.client_rps)
    engines.flush_broker()

    fresh, unchanged = upsert_rate(max(args.sizes) // 2)
    print(f"\nupsert alone: {fresh:,.0f} deals/s new, {unchanged:,.0f} deals/s unchanged")

    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
