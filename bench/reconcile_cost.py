"""Benchmark: one `reconcile_hubspot` pass over 10,000 active deals, at the default limits,
with no webhook sent: what it costs HubSpot (requests) and how long it takes.

The simulator holds `--deals` deals; a sync brings them all in. Then HubSpot's users, with
no webhook reaching us, delete `--deleted` deals, merge `--merged` pairs, and restore
`--restored` deals we had seen deleted. One pass must find each (and leave no active deal
of ours that HubSpot deleted or merged away), within the target cost:
  - requests <= one per 100 deals checked, plus one (the last partial batch);
  - the pass's seconds printed (HUBSPOT_GENERAL_RPS_10S at its default, 100 per 10 s,
    paces the batch reads).

    .venv/bin/python bench/reconcile_cost.py [--deals 10000]

Its own PostgreSQL and Redis (bench/support.py), as bench/webhook_latency.py.
"""

import argparse
import io
import math
import sys
import time
from datetime import UTC, datetime, timedelta

from chaos_lifecycle import hubspot_truth
from ingest_harness import load, setup_django
from support import verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--deleted", type=int, default=100)
    parser.add_argument("--merged", type=int, default=50)
    parser.add_argument("--restored", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from deals.models import Deal
    from deals.services import deals_archive
    from hubspot.models import SyncRun
    from hubspot.simulator.process import start_simulator

    extra = ["--search-rps", "0", "--days", "5"]
    with start_simulator(deals=args.deals, seed=9, extra_args=extra) as sim:
        settings.HUBSPOT_ACCESS_TOKEN, settings.HUBSPOT_BASE_URL = sim.token, sim.base_url
        settings.HUBSPOT_SEARCH_RPS = 100
        since = (timezone.now() - timedelta(days=30)).isoformat()
        call_command("sync_hubspot", "--since", since, stdout=io.StringIO())
        ours = sorted(Deal.objects.values_list("hubspot_deal_id", flat=True))
        assert len(ours) == args.deals, f"{len(ours)} deals synced, not {args.deals}"
        picks = iter(ours)
        deleted = [next(picks) for _ in range(args.deleted)]
        for deal_id in deleted:
            sim.delete_deal(deal_id)
        for _ in range(args.merged):
            sim.merge_deals(primary=next(picks), merged=[next(picks)])
        restored = [next(picks) for _ in range(args.restored)]
        for deal_id in restored:  # seen deleted here (its webhook came), restored unseen
            sim.delete_deal(deal_id)
            sim.restore_deal(deal_id)
        deals_archive(hubspot_deal_ids=restored, at=timezone.now() - timedelta(seconds=1))
        sim.reset_stats()

        started = time.monotonic()
        out = io.StringIO()
        call_command("reconcile_hubspot", stdout=out)
        seconds = time.monotonic() - started
        stats = sim.stats()
        live, survivor_of = hubspot_truth(sim)

    run = SyncRun.objects.filter(kind="reconcile").get()
    ghosts = Deal.objects.filter(hubspot_state="active").exclude(hubspot_deal_id__in=live)
    ceiling = math.ceil(run.fetched / 100) + 1
    print(f"reconcile cost, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")
    print(f"  {out.getvalue().strip()}")
    print(
        f"  {run.fetched:,} deals checked in {seconds:.1f} s, {run.requests} requests "
        f"(HubSpot counted {sum(stats['requests'].values())}; target <= {ceiling}), "
        f"{run.rate_limited} answered 429"
    )
    print(
        f"  found: {run.archived} deleted (of {args.deleted}), {run.restored} restored "
        f"(of {args.restored}), {run.merged} merged away (of {2 * args.merged}); "
        f"{ghosts.count()} active deals HubSpot no longer has"
    )
    failures = []
    if run.requests > ceiling:
        failures.append(f"{run.requests} requests > {ceiling}")
    found = (run.archived, run.restored, run.merged)
    if found != (args.deleted, args.restored, 2 * args.merged):
        failures.append(f"found {found}")
    if ghosts.exists() or len(survivor_of) != 2 * args.merged:
        failures.append(f"{ghosts.count()} ghosts left")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
