"""The steady-state poll (sync_plan): it reads what HubSpot modified since the last poll, so
a poll when nothing changed costs at most 2 searches however many deals are in the lookback
window, and still brings in late-indexed, backdated and changed check-ins, each once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Deal
from hubspot.client import HubspotClient
from hubspot.models import SyncRun
from hubspot.services import sync_plan, sync_run_execute, sync_run_start
from hubspot.tests.simulator.helpers import CHECKED_IN
from vcc.testing import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulator(start_hubspot_simulator):
    # 10,000 deals checked in over the last 2 days.
    return start_hubspot_simulator(
        deals=10_000, seed=5, extra_args=["--search-rps", "0", "--days", "2"]
    )


def _poll(simulator, no_wait_limiter, enqueued, capture) -> tuple[SyncRun, int]:
    """One scheduled poll: the run, and the searches the simulator served for it."""
    before = simulator.stats()["requests"].get("search", 0)
    client = HubspotClient(
        access_token=simulator.token,
        base_url=simulator.base_url,
        checked_in_property=CHECKED_IN,
        search_limiter=no_wait_limiter,
        general_limiter=no_wait_limiter,
        backoff_base_seconds=0,
    )
    with capture(execute=True):
        run = sync_run_execute(run=sync_run_start(trigger="scheduled"), client=client)
    assert run.status == "succeeded", run.error
    return run, simulator.stats()["requests"].get("search", 0) - before


def test_polls_cost_what_changed_and_bring_in_every_kind_of_change_once(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    def poll() -> tuple[SyncRun, int]:
        return _poll(simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks)

    first, _ = poll()
    assert (first.kind, first.new) == ("checked_in", 10_000)
    for _ in range(5):
        quiet, searches = poll()
        assert quiet.kind == "changes" and searches <= 2 and quiet.new == 0

    # A deal that reaches the search index late: not there on one poll, in on the next.
    simulator.configure(index_lag_seconds=1.5)
    [late] = simulator.add_deals(count=1)
    not_yet, _ = poll()
    assert not_yet.new == 0
    wait_until(lambda: simulator.stats()["pending_index"] == 0, timeout=10, what="the index")
    simulator.configure(index_lag_seconds=0)
    arrived, searches = poll()
    assert arrived.new == 1 and searches <= 2
    assert Deal.objects.filter(hubspot_deal_id=late).count() == 1

    # A check-in backdated past the lookback window, and a check-in that changed.
    [backdated] = simulator.add_deals(count=1, checked_in_at=timezone.now() - timedelta(days=5))
    changed = Deal.objects.order_by("hubspot_checked_in_at").first()
    assert changed is not None
    moved_to = timezone.now() - timedelta(minutes=3)
    HubspotClient(
        access_token=simulator.token, base_url=simulator.base_url, general_limiter=no_wait_limiter
    ).update_deals([(changed.hubspot_deal_id, {CHECKED_IN: moved_to.isoformat()})])
    enqueued.clear()
    both, searches = poll()
    assert (both.new, both.updated) == (1, 1) and searches <= 2
    assert Deal.objects.filter(hubspot_deal_id=backdated).count() == 1
    changed.refresh_from_db()
    assert changed.hubspot_checked_in_at is not None
    assert abs(changed.hubspot_checked_in_at - moved_to) < timedelta(seconds=1)

    # Read again inside the overlap, but nothing comes in twice.
    again, _ = poll()
    assert (again.new, again.updated) == (0, 0)
    assert Deal.objects.count() == 10_002
    assert len(enqueued) == 1  # the backdated deal; the changed one kept its pipeline


def test_the_first_sync_reads_by_check_in_and_the_daily_reread_always_does():
    now = timezone.now()
    assert sync_plan(now=now, trigger="scheduled")[0] == "checked_in"
    SyncRun.objects.create(trigger="scheduled", status="succeeded", started_at=now, window_end=now)
    kind, since, until = sync_plan(now=now + timedelta(minutes=5), trigger="manual")
    assert (kind, since, until) == (
        "changes",
        now - timedelta(minutes=10),
        now + timedelta(minutes=5),
    )
    assert sync_plan(now=now, trigger="reread")[0] == "checked_in"
