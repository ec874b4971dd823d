"""Benchmark: a bulk import of 1,000 HubSpot deal ids, end to end.

`POST /api/imports/` to gunicorn with 1,000 ids the simulator has; a real Celery worker runs
the import (batch reads at HUBSPOT_GENERAL_RPS_10S, the simulator enforcing the same limit)
and the new deals' pipelines. Measures the wall time from the POST to the import done (every
id settled, polling its status URL), the HubSpot calls made, and, for information, until
every imported deal's pipeline has finished. Compares with the targets in the same run,
exits 1 if one is missed:
  - 10 batch reads and no other HubSpot call, no 429;
  - every id imported; the import done within 5 s.

    .venv/bin/python bench/import_throughput.py [--ids 1000]

Its own PostgreSQL and Redis: embedded in var/bench-ingest/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import math
import sys
import time
from datetime import UTC, datetime

import requests
from ingest_harness import celery_worker, load, setup_django, wait_for, web_server
from support import bench_user, free_port, verdict

TARGET_SECONDS = 5.0
GENERAL_LIMIT_10S = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1000)
    args = parser.parse_args()
    setup_django(HUBSPOT_GENERAL_RPS_10S=str(GENERAL_LIMIT_10S))
    from rest_framework.authtoken.models import Token

    from deals.models import Deal
    from hubspot.simulator.process import start_simulator

    user = bench_user()
    token = Token.objects.create(user=user).key
    port = free_port()
    limit = ["--general-limit-10s", str(GENERAL_LIMIT_10S), "--missing-amount-share", "0"]
    with (
        start_simulator(deals=0, seed=9, extra_args=limit) as sim,
        web_server(port) as base_url,
        celery_worker(HUBSPOT_ACCESS_TOKEN=sim.token, HUBSPOT_BASE_URL=sim.base_url),
    ):
        ids = sim.add_deals(count=args.ids, checked_in_at="2026-01-01T00:00:00Z")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        sim.reset_stats()

        started = time.monotonic()
        accepted = session.post(
            base_url + "/api/imports/", json={"hubspot_deal_ids": ids}, timeout=30
        )
        post_seconds = time.monotonic() - started
        accepted.raise_for_status()
        status_url = accepted.json()["status_url"]
        status: dict = {}

        def import_done() -> bool:
            nonlocal status
            status = session.get(status_url, params={"limit": 1}, timeout=30).json()
            return status["status"] == "done"

        wait_for(import_done, timeout=300, what="the import")
        import_seconds = time.monotonic() - started
        stats = sim.stats()

        def pipelines_finished() -> bool:
            unfinished = Deal.objects.filter(status__in=["pending", "running"])
            return Deal.objects.count() == len(ids) and not unfinished.exists()

        wait_for(pipelines_finished, timeout=600, what="the imported deals' pipelines")
        pipeline_seconds = time.monotonic() - started

    totals = status["totals"]
    batch_reads = stats["requests"].get("batch_read", 0)
    other_calls = sum(stats["requests"].values()) - batch_reads
    floor = (math.ceil(len(ids) / 100) - 1) * 10 / GENERAL_LIMIT_10S
    print(f"bulk import, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")
    print(f"  ids                 {len(ids)}; POST answered 202 in {post_seconds * 1000:.0f} ms")
    print(
        f"  import done         {import_seconds:.2f} s after the POST "
        f"(target <= {TARGET_SECONDS:.0f} s; rate-limit floor {floor:.1f} s)"
    )
    print(f"  HubSpot calls       {batch_reads} batch reads, {other_calls} other (target 10, 0)")
    print(f"  429s served         {stats['rate_limited']}")
    print(f"  totals              {totals}")
    print(f"  all pipelines done  {pipeline_seconds:.2f} s after the POST (for information)")
    failures = []
    expected_reads = math.ceil(len(ids) / 100)
    if batch_reads != expected_reads or other_calls:
        failures.append(f"{batch_reads} batch reads and {other_calls} other calls")
    if stats["rate_limited"]:
        failures.append(f"{stats['rate_limited']} 429s")
    if totals["imported"] != len(ids):
        failures.append(f"{totals['imported']} of {len(ids)} imported")
    if import_seconds > TARGET_SECONDS:
        failures.append(f"import took {import_seconds:.2f} s")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
