"""Benchmark: deals deleted and merged in HubSpot, to the queue API showing it, through the
signed webhooks.

The simulator sends its webhooks (`--webhook-url`) to gunicorn; a real Celery worker
processes them. Deals come in first (their creation webhooks). Then, one after another:
`--deletions` deals are deleted (each one deal.deletion request), and for each the time
from the webhook request being sent (the simulator's clock) to `GET /api/deals/{id}/`
answering `hubspot_state: archived`; then `--merges` pairs are merged (each one deal.merge
request, a new deal holding both), and the time to the survivor shown active on the API
with both merged-away deals shown `merged` into it. Exits 1 if a target is missed:
  - deletion: median <= 2 s (p90 printed);
  - merge: median <= 2 s.

    .venv/bin/python bench/lifecycle_latency.py [--deletions 100] [--merges 30]

Its own PostgreSQL and Redis (bench/support.py), as bench/webhook_latency.py.
"""

import argparse
import sys
import time
from datetime import UTC, datetime

import requests
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
POLL_S = 0.02


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deletions", type=int, default=100)
    parser.add_argument("--merges", type=int, default=30)
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from deals.models import Deal
    from hubspot.simulator.process import start_simulator

    port = free_port()
    hook = f"http://127.0.0.1:{port}/api/webhooks/hubspot/"
    extra = ["--webhook-url", hook, "--webhook-secret", CLIENT_SECRET, "--search-rps", "0"]
    user = User.objects.create_user("bench", is_staff=True, is_superuser=True)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    with (
        start_simulator(deals=0, seed=5, extra_args=extra) as sim,
        web_server(port) as base,
        celery_worker(HUBSPOT_ACCESS_TOKEN=sim.token, HUBSPOT_BASE_URL=sim.base_url),
    ):
        ids = sim.add_deals(count=args.deletions + 2 * args.merges)
        wait_for(
            lambda: Deal.objects.filter(hubspot_deal_id__in=ids).count() == len(ids),
            timeout=300,
            what=f"{len(ids)} deals in",
        )
        ours = dict(
            Deal.objects.filter(hubspot_deal_id__in=ids).values_list("hubspot_deal_id", "id")
        )

        def state(hubspot_id: str) -> dict:
            return api.get(f"{base}/api/deals/{ours[hubspot_id]}/", timeout=10).json()

        def sent_at(object_id: str, kind_seen: int) -> float:
            # The first delivery naming this deal after the `kind_seen` earlier ones.
            deliveries = sim.webhooks()["deliveries"][kind_seen:]
            return min(d["sent_at_ms"] for d in deliveries if object_id in d["object_ids"]) / 1000

        deletions: list[float] = []
        for hubspot_id in ids[: args.deletions]:
            seen = len(sim.webhooks()["deliveries"])
            sim.delete_deal(hubspot_id)
            while state(hubspot_id)["hubspot_state"] != "archived":
                time.sleep(POLL_S)
            deletions.append(time.time() - sent_at(hubspot_id, seen))

        merges: list[float] = []
        pairs = ids[args.deletions :]
        for primary, merged in zip(pairs[::2], pairs[1::2], strict=True):
            seen = len(sim.webhooks()["deliveries"])
            survivor = sim.merge_deals(primary=primary, merged=[merged])

            def merged_in(pair: tuple[str, str] = (primary, merged), into: str = survivor) -> bool:
                shown = [state(deal_id) for deal_id in pair]
                return all(
                    (d["hubspot_state"], d["merged_into_hubspot_deal_id"]) == ("merged", into)
                    for d in shown
                )

            while not merged_in():
                time.sleep(POLL_S)
            alive = Deal.objects.filter(hubspot_deal_id=survivor, hubspot_state="active")
            assert alive.exists(), f"survivor {survivor} not active"
            merges.append(time.time() - sent_at(survivor, seen))

    print(f"lifecycle latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")
    print(
        f"  deletion -> archived on the API   median {median(deletions):.3f} s, "
        f"p90 {percentile(deletions, 0.9):.3f} s, max {max(deletions):.3f} s over "
        f"{len(deletions)} (target median <= {TARGET_MEDIAN_S} s)"
    )
    print(
        f"  merge -> one survivor, 2 merged   median {median(merges):.3f} s, "
        f"p90 {percentile(merges, 0.9):.3f} s, max {max(merges):.3f} s over "
        f"{len(merges)} (target median <= {TARGET_MEDIAN_S} s)"
    )
    failures = []
    if median(deletions) > TARGET_MEDIAN_S:
        failures.append(f"deletion median {median(deletions):.3f} s > {TARGET_MEDIAN_S} s")
    if median(merges) > TARGET_MEDIAN_S:
        failures.append(f"merge median {median(merges):.3f} s > {TARGET_MEDIAN_S} s")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
