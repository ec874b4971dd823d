"""Benchmark: a bulk re-run of 10,000 deals by filter, through the operator lane.

10,000 done deals (and --others more the filter does not select). One POST to
/api/queue/actions/ {"action": "rerun", "status": "done"} through the real view stack,
with a real worker (2 processes, stub stages) taking the deals through the lane. Prints:
- the request time (the deals are pending with their new pass when it answers: queued);
- when the last deal was queued (pending, with its pass), and when the last one started:
  the lane is fed a page at a time, so "started" follows the workers, not the request;
- a single operator's retry clicked while the bulk re-run fills the lane: click to first
  stage (the lane stays responsive);
then compares the request time with its target.

    .venv/bin/python bench/bulk_actions.py [--deals 10000] [--others 100000]

On embedded PostgreSQL and Redis in var/bench-bulk/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import sys
import time

import psycopg
import worker_support as bench
from support import load_average

REQUEST_TARGET_SECONDS = 5.0

DEALS_SQL = """
WITH made AS (
    INSERT INTO deals (id, hubspot_deal_id, name, amount, hubspot_checked_in_at, status,
                       current_stage, current_pass_id, created_at, updated_at)
    SELECT gen_random_uuid(), (50000000 + n)::text, 'Bulk deal ' || n, 1000, now(),
           %(status)s, %(stage)s, gen_random_uuid(), now(), now()
    FROM generate_series(%(first)s::int, %(last)s::int) AS n
    RETURNING id, current_pass_id
)
INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at, from_stage)
SELECT current_pass_id, id, 'new', '', now(), 'intake' FROM made
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    engines, env = bench.prepare("bulk", worker_env={})
    with psycopg.connect(engines.conninfo, autocommit=True) as conn:
        conn.execute(DEALS_SQL, {"status": "done", "stage": "done", "first": 1, "last": args.deals})
        conn.execute(
            DEALS_SQL,
            {
                "status": "failed",
                "stage": "appraisal",
                "first": args.deals + 1,
                "last": args.deals + args.others,
            },
        )
        conn.execute("VACUUM ANALYZE deals")
        conn.execute("VACUUM ANALYZE pipeline_passes")

    from deals.models import Deal, PipelinePass, PipelineRun

    # The single operator's deal, retried during the bulk re-run.
    single = Deal.objects.filter(status="failed").first()
    assert single is not None
    worker = bench.start_worker(env, concurrency=args.concurrency, log_name="bench-bulk.log")
    client = bench.staff_client()
    try:
        started = time.time()
        response = client.post(
            "/api/queue/actions/",
            {"action": "rerun", "status": "done"},
            content_type="application/json",
        )
        answered = time.time()
        assert response.status_code == 202, response.content
        count = response.json()["count"]
        pending = PipelinePass.objects.filter(trigger="bulk_rerun").count()
        lane_during = bench.queued("operator")

        time.sleep(0.5)  # let the feeding get going: the click meets a busy lane
        clicked = time.time()
        assert client.post(f"/api/deals/{single.id}/retry/").status_code == 202
        click_pass = PipelinePass.objects.get(deal=single, trigger="retry")
        click_wait = None
        lane_max = 0
        deadline = time.monotonic() + 1800
        while True:
            lane_max = max(lane_max, bench.queued("operator"))
            if click_wait is None:
                first = (
                    PipelineRun.objects.filter(pipeline_pass=click_pass)
                    .values_list("started_at", flat=True)
                    .first()
                )
                if first is not None:
                    click_wait = first.timestamp() - clicked
            waiting = Deal.objects.filter(
                status="pending", current_pass__trigger="bulk_rerun"
            ).exists()
            if not waiting and click_wait is not None:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the bulk re-run did not finish within 30 minutes")
            time.sleep(0.05)
        last_started = max(
            PipelineRun.objects.filter(
                pipeline_pass__trigger="bulk_rerun", stage="intake"
            ).values_list("started_at", flat=True)
        ).timestamp()
    finally:
        bench.stop(worker)

    request_s = answered - started
    print(f"deals:                    {count} re-run by filter (of {args.deals + args.others})")
    print(f"request time:             {request_s:.2f} s (target {REQUEST_TARGET_SECONDS:.0f} s)")
    print(
        f"last deal queued:         {request_s:.2f} s after the click "
        f"(pending with its pass when the request answers: {pending} passes)"
    )
    print(
        f"last deal started:        {last_started - started:.1f} s after the click "
        f"({args.concurrency} worker processes, stub stages)"
    )
    print(
        f"operator lane length:     {lane_during} right after the request, "
        f"at most {lane_max} while feeding (page size + its feeder)"
    )
    print(f"a retry clicked meanwhile: first stage {click_wait:.3f} s after the click")
    print(f"machine load:             {load_average()}")
    if count != args.deals:
        print(f"FAIL: {count} deals re-run, not {args.deals}")
        return 1
    if request_s > REQUEST_TARGET_SECONDS:
        print(f"FAIL: the request took {request_s:.2f} s, above {REQUEST_TARGET_SECONDS:.0f} s")
        return 1
    print("OK: within the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
