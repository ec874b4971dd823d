"""Benchmark: an operator's retry with 1,000 deals queued ahead of it in the backlog.

A real worker (2 processes, started as bin/run starts it: every queue, the operator lane
first) works through a backlog whose intake stage takes --stage-seconds. Twenty failed
deals are retried one after another through the API (POST /api/deals/{id}/retry/, the
page's button), each while at least --backlog deals wait in the backlog. For each, the
time from the click to the first stage of its new pass starting (the run's started_at,
written by the worker). Prints the median of the clicks, their spread, what the backlog
would have cost without the lane, and compares the median with the target of 5 s.

    .venv/bin/python bench/operator_lane.py [--backlog 1000] [--clicks 20]

On embedded PostgreSQL and Redis in var/bench-lane/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import statistics
import sys
import time

import worker_support as bench
from support import load_average

TARGET_SECONDS = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1_000)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--stage-seconds", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    _, env = bench.prepare(
        "lane",
        worker_env={"TEST_STAGES": "intake=slow", "TEST_STAGE_SECONDS": str(args.stage_seconds)},
    )
    from deals.models import Deal, PipelinePass, PipelineRun
    from deals.tasks import process_deal
    from deals.tests.factories import PipelinePassFactory
    from vcc.celery import app

    failed = [
        PipelinePassFactory.create(
            deal__status="failed", deal__current_stage="appraisal", deal__name=f"Retry {n}"
        ).deal
        for n in range(args.clicks)
    ]
    # Enough that the backlog never drops below --backlog while the clicks go on.
    per_second = args.concurrency / args.stage_seconds
    extra = int(per_second * args.clicks * 2) + 50
    backlog = Deal.objects.bulk_create(
        Deal(hubspot_deal_id=str(40_000_000 + n), name=f"Backlog {n}", amount=1)
        for n in range(args.backlog + extra)
    )
    with app.producer_or_acquire() as producer:
        for deal in backlog:
            process_deal.apply_async((str(deal.id),), queue="celery", producer=producer)

    worker = bench.start_worker(env, concurrency=args.concurrency, log_name="bench-lane.log")
    client = bench.staff_client()
    waits: list[float] = []
    queued_at_click: list[int] = []
    try:
        for deal in failed:
            queued_at_click.append(bench.queued("celery"))
            clicked = time.time()
            response = client.post(f"/api/deals/{deal.id}/retry/")
            assert response.status_code == 202, response.content
            new_pass = PipelinePass.objects.get(deal=deal, trigger="retry")
            deadline = time.monotonic() + 120
            while True:
                first = (
                    PipelineRun.objects.filter(pipeline_pass=new_pass)
                    .order_by("started_at")
                    .values_list("started_at", flat=True)
                    .first()
                )
                if first is not None:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"deal {deal.id} did not start within 120 s")
                time.sleep(0.01)
            waits.append(first.timestamp() - clicked)
        still_pending = Deal.objects.filter(status="pending", name__startswith="Backlog").count()
    finally:
        bench.stop(worker)

    median = statistics.median(waits)
    fifo = args.backlog * args.stage_seconds / args.concurrency
    print(
        f"backlog:                  {min(queued_at_click)}-{max(queued_at_click)} jobs queued "
        f"at each click ({still_pending} deals still pending at the end)"
    )
    print(
        f"worker:                   {args.concurrency} processes, intake {args.stage_seconds} s "
        f"a deal"
    )
    print(f"retry click -> first stage, {len(waits)} clicks:")
    print(f"  median                  {median:.3f} s (target {TARGET_SECONDS:.0f} s)")
    print(
        f"  min / p90 / max         {min(waits):.3f} / "
        f"{statistics.quantiles(waits, n=10)[-1]:.3f} / {max(waits):.3f} s"
    )
    print(f"without the lane:         about {fifo:.0f} s (the backlog ahead of it, FIFO)")
    print(f"machine load:             {load_average()}")
    if min(queued_at_click) < args.backlog:
        print(f"FAIL: the backlog fell below {args.backlog} during the clicks")
        return 1
    if median > TARGET_SECONDS:
        print(f"FAIL: median {median:.2f} s is above the target of {TARGET_SECONDS:.0f} s")
        return 1
    print("OK: within the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
