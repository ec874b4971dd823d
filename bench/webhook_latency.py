"""Benchmark: a deal checked in at HubSpot, to its row in our database and its pipeline
started, through the webhook.

The simulator sends its signed webhooks (`--webhook-url`) to gunicorn; a real Celery
worker batch-reads and upserts the deals and runs their pipelines. 100 deals check in one
after another (a quarter second apart), each one webhook request. For each: from the
request being sent (the simulator's clock) to the deal's row (`deals.created_at`) and to
its first stage starting (the first pipeline run's `started_at`); and how long the
endpoint took to answer. Compares with the targets in the same run, exits 1 if one is
missed:
  - median from the POST to the pipeline started <= 2 s;
  - the endpoint answers within 100 ms (95th percentile), every request 2xx.

    .venv/bin/python bench/webhook_latency.py [--deals 100] [--gap 0.25]

Its own PostgreSQL and Redis: embedded in var/bench-ingest/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import sys
import time
from datetime import UTC, datetime

from ingest_harness import (
    CLIENT_SECRET,
    celery_worker,
    load,
    median,
    percentile,
    setup_django,
    wait_for,
    web_server,
)
from support import free_port, verdict

TARGET_MEDIAN_S = 2.0
TARGET_ANSWER_MS = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between check-ins")
    args = parser.parse_args()
    setup_django()
    from django.db.models import Min

    from deals.models import Deal, PipelineRun
    from hubspot.simulator.process import start_simulator

    port = free_port()
    hook = f"http://127.0.0.1:{port}/api/webhooks/hubspot/"
    extra = ["--webhook-url", hook, "--webhook-secret", CLIENT_SECRET, "--search-rps", "0"]
    with (
        start_simulator(deals=0, seed=5, extra_args=extra) as sim,
        web_server(port),
        celery_worker(HUBSPOT_ACCESS_TOKEN=sim.token, HUBSPOT_BASE_URL=sim.base_url),
    ):
        # Warm up every process (imports, connections) before measuring.
        warm = sim.add_deals(count=2)
        wait_for(
            lambda: PipelineRun.objects.filter(deal__hubspot_deal_id__in=warm).exists(),
            timeout=120,
            what="the warm-up deals",
        )
        skip = len(sim.webhooks()["deliveries"])
        ids: list[str] = []
        for _ in range(args.deals):
            ids += sim.add_deals(count=1)
            time.sleep(args.gap)

        def all_started() -> bool:
            return PipelineRun.objects.filter(deal__hubspot_deal_id__in=ids).values(
                "deal_id"
            ).distinct().count() == len(ids)

        wait_for(all_started, timeout=300, what=f"{len(ids)} pipelines started")
        deliveries = sim.webhooks()["deliveries"][skip:]

    sent_at: dict[str, float] = {}
    for delivery in deliveries:
        for object_id in delivery["object_ids"]:
            if delivery["status"] and 200 <= delivery["status"] < 300:
                sent_at.setdefault(object_id, delivery["sent_at_ms"] / 1000)
    rows = (
        Deal.objects.filter(hubspot_deal_id__in=ids)
        .annotate(first_run=Min("pipeline_runs__started_at"))
        .values_list("hubspot_deal_id", "created_at", "first_run")
    )
    to_row, to_start = [], []
    for hubspot_id, created_at, first_run in rows:
        sent = sent_at[hubspot_id]
        to_row.append(created_at.timestamp() - sent)
        to_start.append(first_run.timestamp() - sent)
    answers = [d["duration_ms"] for d in deliveries]
    refused = [d for d in deliveries if not (d["status"] and 200 <= d["status"] < 300)]

    print(f"webhook latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")
    print(f"  check-ins           {len(ids)} ({args.gap} s apart), {len(deliveries)} requests")
    print(
        f"  POST -> deal row    median {median(to_row):.3f} s, "
        f"p90 {percentile(to_row, 0.9):.3f} s, max {max(to_row):.3f} s"
    )
    print(
        f"  POST -> pipeline    median {median(to_start):.3f} s, "
        f"p90 {percentile(to_start, 0.9):.3f} s, max {max(to_start):.3f} s "
        f"(target median <= {TARGET_MEDIAN_S} s)"
    )
    print(
        f"  endpoint answer     median {median(answers):.1f} ms, "
        f"p95 {percentile(answers, 0.95):.1f} ms, max {max(answers):.1f} ms "
        f"(target p95 <= {TARGET_ANSWER_MS:.0f} ms); {len(refused)} not 2xx"
    )
    failures = []
    if len(to_start) != len(ids):
        failures.append(f"{len(ids) - len(to_start)} deals never started")
    if median(to_start) > TARGET_MEDIAN_S:
        failures.append(f"median {median(to_start):.3f} s > {TARGET_MEDIAN_S} s")
    if percentile(answers, 0.95) > TARGET_ANSWER_MS:
        failures.append(f"p95 answer {percentile(answers, 0.95):.1f} ms > {TARGET_ANSWER_MS} ms")
    if refused:
        failures.append(f"{len(refused)} webhook requests not answered 2xx")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
