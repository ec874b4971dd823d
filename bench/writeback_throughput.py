"""Benchmark: writing 1,000 deals' outcomes back to HubSpot.

1,000 deals the simulator has are finished (done or failed) with write-back on, which queues
their outcomes in the outbox; then `python manage.py hubspot_writeback` runs one pass, as
beat does every minute, against the simulator enforcing HubSpot's general limit. Measures
the pass's wall time (the command, start-up included) and the HubSpot calls it made, and
checks what the simulator holds. Compares with the targets in the same run, exits 1 if one
is missed:
  - 10 batch updates and no other call, no 429;
  - every outcome complete, each deal updated once with its values; the pass within 10 s.

    .venv/bin/python bench/writeback_throughput.py [--outcomes 1000]

Its own PostgreSQL and Redis: embedded in var/bench-ingest/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from ingest_harness import ROOT, load, setup_django
from support import verdict

TARGET_SECONDS = 10.0
GENERAL_LIMIT_10S = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=1000)
    args = parser.parse_args()
    setup_django(HUBSPOT_WRITEBACK_ENABLED="true", HUBSPOT_GENERAL_RPS_10S=str(GENERAL_LIMIT_10S))
    from django.db import transaction
    from django.utils import timezone

    from deals.models import Deal, DealWriteback
    from deals.services.writeback import deal_writeback_queue
    from hubspot.simulator.process import start_simulator

    limit = ["--general-limit-10s", str(GENERAL_LIMIT_10S), "--search-rps", "0"]
    with start_simulator(deals=args.outcomes, seed=4, extra_args=limit) as sim:
        ids = [str(record) for record in _simulator_ids(sim, args.outcomes)]
        now = timezone.now()
        with transaction.atomic():
            deals = Deal.objects.bulk_create(
                Deal(hubspot_deal_id=i, name=f"Deal {i}", status="done", current_stage="done")
                for i in ids
            )
            for n, deal in enumerate(deals):
                status, stage = ("failed", "appraisal") if n % 10 == 0 else ("done", "done")
                deal_writeback_queue(deal_id=deal.id, deal_status=status, stage=stage, now=now)
        sim.reset_stats()

        started = time.monotonic()
        command = subprocess.run(
            [sys.executable, "manage.py", "hubspot_writeback"],
            cwd=ROOT,
            env={
                **os.environ,
                "HUBSPOT_ACCESS_TOKEN": sim.token,
                "HUBSPOT_BASE_URL": sim.base_url,
            },
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        stats = sim.stats()
        sample = [sim.deal(i) for i in ids[:: max(1, len(ids) // 50)]]

    states = dict.fromkeys(DealWriteback.State.values, 0)
    for state in DealWriteback.objects.values_list("state", flat=True):
        states[state] += 1
    updates = stats["requests"].get("batch_update", 0)
    other_calls = sum(stats["requests"].values()) - updates
    updated_once = all(len(deal["updates"]) == 1 for deal in sample)
    values_ok = all(
        deal["properties"].get("vcc_pipeline_status") in ("done", "failed")
        and deal["properties"].get("vcc_pipeline_finished_at", "").isdigit()
        for deal in sample
    )
    print(f"write-back, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")
    print(f"  outcomes            {len(ids)} queued (1 in 10 failed, the rest done)")
    print(f"  command             {command.stdout.strip() or command.stderr.strip()}")
    print(f"  pass wall time      {seconds:.2f} s, process start-up included (target <= 10 s)")
    print(f"  HubSpot calls       {updates} batch updates, {other_calls} other (target 10, 0)")
    print(f"  429s served         {stats['rate_limited']}")
    print(f"  outbox              {states}")
    print(f"  sample of {len(sample)} deals  updated once: {updated_once}; values: {values_ok}")
    failures = []
    if command.returncode != 0:
        failures.append(f"the command exited {command.returncode}")
    if updates != math.ceil(len(ids) / 100) or other_calls:
        failures.append(f"{updates} batch updates and {other_calls} other calls")
    if stats["rate_limited"]:
        failures.append(f"{stats['rate_limited']} 429s")
    if states["complete"] != len(ids):
        failures.append(f"{states['complete']} of {len(ids)} complete")
    if not (updated_once and values_ok):
        failures.append("the simulator does not hold each outcome once")
    if seconds > TARGET_SECONDS:
        failures.append(f"the pass took {seconds:.2f} s")
    return verdict(failures)


def _simulator_ids(sim, count: int) -> list[str]:
    """The ids of the simulator's deals, by paging its search (no limit on it here)."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    ids: list[str] = []
    after = None
    while len(ids) < count:
        body = {"limit": 200, **({"after": after} if after else {})}
        url = sim.base_url + "/crm/objects/2026-09/deals/search"
        page = session.post(url, json=body, timeout=30).json()
        ids += [result["id"] for result in page["results"]]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    return ids[:count]


if __name__ == "__main__":
    sys.exit(main())
