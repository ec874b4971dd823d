"""The reconcile (hubspot/services/reconcile.py, `manage.py reconcile_hubspot`): deletions,
restores and merges HubSpot made without a webhook reaching us, found by reading our deals
back, against the simulator."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from deals.models import Deal
from deals.services import deals_archive
from hubspot.models import SyncRun
from hubspot.selectors import sync_health
from hubspot.services import (
    reconcile_run_execute,
    reconcile_run_start,
    sync_plan,
    sync_run_execute,
    sync_run_start,
)
from hubspot.tests.simulator.helpers import sim_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def ours(hubspot_simulator) -> list[str]:
    """The simulator's deals, brought in by a sync."""
    run = sync_run_start(
        trigger="command", window=(timezone.now() - timedelta(days=3650), timezone.now())
    )
    sync_run_execute(run=run, client=sim_client(hubspot_simulator))
    return sorted(Deal.objects.values_list("hubspot_deal_id", flat=True))


def _state(hubspot_id: str) -> tuple[str, str | None]:
    deal = Deal.objects.select_related("merged_into").get(hubspot_deal_id=hubspot_id)
    return deal.hubspot_state, deal.merged_into.hubspot_deal_id if deal.merged_into else None


def test_one_pass_finds_each_deletion_restore_and_merge_with_no_webhook(hubspot_simulator, ours):
    sim = hubspot_simulator
    deleted, restored, a, b = ours[:4]
    sim.delete_deal(deleted)
    # One we saw deleted (its webhook came) and that was restored with no webhook after it.
    sim.delete_deal(restored)
    deals_archive(hubspot_deal_ids=[restored], at=timezone.now())
    sim.restore_deal(restored)
    survivor = sim.merge_deals(primary=a, merged=[b])
    client = sim_client(sim)

    run = reconcile_run_execute(run=reconcile_run_start(trigger="command"), client=client)

    assert run.status == "succeeded", run.error
    # The survivor, new to us, is read in its turn (its id comes after ours).
    assert run.summary == f"checked={len(ours) + 1} archived=1 restored=1 merged=2 requests=4"
    assert client.request_count == 4  # one batch read per 100 deals
    assert _state(deleted) == ("archived", None)
    assert _state(restored) == ("active", None)
    assert _state(a) == _state(b) == ("merged", survivor)
    assert _state(survivor) == ("active", None)
    # After one pass, the default queue holds no deal HubSpot deleted or merged away.
    assert not Deal.objects.filter(hubspot_state="active", hubspot_deal_id__in=[deleted, a, b])

    again = reconcile_run_execute(run=reconcile_run_start(trigger="command"), client=client)
    assert (again.archived, again.restored, again.merged) == (0, 0, 0)
    assert again.fetched == len(ours) - 1  # merged deals are final: not read again


def test_the_command_prints_one_line_and_exits_1_when_hubspot_fails(
    hubspot_simulator, ours, settings, capsys
):
    settings.HUBSPOT_BASE_URL = hubspot_simulator.base_url
    settings.HUBSPOT_ACCESS_TOKEN = hubspot_simulator.token
    hubspot_simulator.delete_deal(ours[0])
    out = io.StringIO()

    call_command("reconcile_hubspot", stdout=out)

    assert (
        out.getvalue()
        == f"reconcile: checked={len(ours)} archived=1 restored=0 merged=0 requests=3\n"
    )

    settings.HUBSPOT_ACCESS_TOKEN = "not-the-token"
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile_hubspot", stdout=io.StringIO())
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reconcile: checked=0 ") and "401" in err[0]
    failed = SyncRun.objects.filter(kind="reconcile").order_by("-created_at").first()
    assert failed is not None and failed.status == "failed"


def test_its_runs_are_not_polls_and_a_failed_one_shows_in_the_health(hubspot_simulator, ours):
    now = timezone.now()
    plan = sync_plan(now=now, trigger="scheduled")
    good = reconcile_run_execute(
        run=reconcile_run_start(trigger="scheduled"), client=sim_client(hubspot_simulator)
    )
    assert good.status == "succeeded"
    # A reconcile is no sync: the next poll reads what it would have read.
    assert sync_plan(now=now, trigger="scheduled") == plan
    health = sync_health(now=timezone.now())
    assert health.last_sync is not None and health.last_sync.kind == "checked_in"
    assert health.last_reconcile == good and not health.failing

    bad = reconcile_run_execute(
        run=reconcile_run_start(trigger="scheduled"),
        client=sim_client(hubspot_simulator, access_token="wrong"),
    )

    health = sync_health(now=timezone.now())
    assert health.last_reconcile == bad and health.failing
    assert health.problem is not None and health.problem.startswith("The last reconcile failed:")


def test_a_second_reconcile_while_one_runs_is_skipped(hubspot_simulator, ours):
    running = reconcile_run_start(trigger="scheduled")

    second = reconcile_run_start(trigger="command")

    assert (running.status, second.status) == ("running", "skipped")
