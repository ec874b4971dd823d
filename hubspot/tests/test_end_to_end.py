"""HubSpot simulator -> sync_hubspot -> a real worker takes every deal through the pipeline.

1,000 deals by default, 12 in 25 of them checked in within one second; TEST_E2E_DEALS sets the
size (TEST_E2E_DEALS=25000 bin/test -m e2e: past HubSpot's 10,000-result cap in one second,
about ten minutes on 2 cores). The cap itself is also tested on the client (test_simulator).
"""

import io
import os
from collections import Counter

import pytest
from django.core.management import call_command

from deals.models import STAGE_ORDER, Deal, PipelineRun
from hubspot.client import HubspotClient
from hubspot.models import SyncRun
from vcc.testing import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.e2e]

DEALS = int(os.environ.get("TEST_E2E_DEALS", "1000"))
SAME_SECOND = DEALS * 12 // 25  # 12,000 of 25,000


def test_every_deal_arrives_exactly_once_and_goes_through_the_pipeline(
    start_hubspot_simulator, celery_worker, settings
):
    simulator = start_hubspot_simulator(
        deals=DEALS,
        seed=25,
        extra_args=["--search-rps", "0", "--days", "5", "--same-second", str(SAME_SECOND)],
    )
    settings.HUBSPOT_ACCESS_TOKEN, settings.HUBSPOT_BASE_URL = simulator.token, simulator.base_url
    settings.HUBSPOT_SEARCH_RPS = 1000
    celery_worker(concurrency=2, env={"HUBSPOT_BASE_URL": simulator.base_url})

    out = io.StringIO()
    call_command("sync_hubspot", stdout=out)

    assert out.getvalue().strip().splitlines()[-1] == (
        f"fetched={DEALS} new={DEALS} updated=0 restarted=0 unchanged=0 invalid=0"
    )
    run = SyncRun.objects.get()
    assert Deal.objects.count() == DEALS
    assert Deal.objects.values("hubspot_deal_id").distinct().count() == DEALS
    seconds = Counter(
        t.replace(microsecond=0)
        for t in Deal.objects.values_list("hubspot_checked_in_at", flat=True)
        if t is not None
    )
    assert seconds.most_common(1)[0][1] == SAME_SECOND
    # Nothing missing: the simulator's own count of the window matches.
    client = HubspotClient(access_token=simulator.token, base_url=simulator.base_url)
    assert run.window_start is not None and run.window_end is not None
    first_page = next(client.search_checked_in(since=run.window_start, until=run.window_end))
    assert first_page.total == DEALS

    def all_finished() -> bool:
        return not Deal.objects.filter(status__in=["pending", "running"]).exists()

    wait_until(all_finished, timeout=1500, interval=2, what=f"{DEALS} deals through the pipeline")
    done = Deal.objects.filter(status="done").count()
    failed = Deal.objects.filter(status="failed")
    assert done + failed.count() == DEALS
    assert PipelineRun.objects.filter(status="succeeded", deal__status="done").count() == (
        done * len(STAGE_ORDER)
    )
    # The only failures are the deals HubSpot sent without an amount, stopped at intake.
    assert set(failed.values_list("current_stage", flat=True)) <= {"intake"}
    assert not failed.exclude(amount=None).exists()
    assert not PipelineRun.objects.filter(status="running").exists()


def test_a_deal_checked_in_at_hubspot_arrives_by_webhook_and_enters_the_pipeline(
    start_hubspot_simulator, celery_worker, live_server, settings
):
    secret = "e2e-client-secret"
    settings.HUBSPOT_CLIENT_SECRET = secret
    simulator = start_hubspot_simulator(
        deals=10,
        extra_args=[
            "--webhook-url",
            live_server.url + "/api/webhooks/hubspot/",
            "--webhook-secret",
            secret,
        ],
    )
    celery_worker(
        concurrency=2,
        env={"HUBSPOT_ACCESS_TOKEN": simulator.token, "HUBSPOT_BASE_URL": simulator.base_url},
    )

    ids = simulator.add_deals(count=3)

    def started() -> bool:
        return (
            PipelineRun.objects.filter(deal__hubspot_deal_id__in=ids)
            .values("deal")
            .distinct()
            .count()
            == 3
        )

    wait_until(started, timeout=60, what="3 deals in by webhook, their pipeline started")
    assert Deal.objects.count() == 3  # only the deals that checked in; no sync ran
    assert not SyncRun.objects.exists()
    assert simulator.webhooks()["requests_failed"] == 0
