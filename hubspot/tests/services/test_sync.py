"""The sync service on the real PostgreSQL, against the HubSpot simulator."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from deals.models import Deal
from deals.pipeline import deal_process
from hubspot.client import HubspotClient
from hubspot.models import SyncRun
from hubspot.services import sync_run_execute, sync_run_start, sync_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulator(start_hubspot_simulator):
    return start_hubspot_simulator(
        deals=450, seed=11, extra_args=["--search-rps", "0", "--days", "1"]
    )


def _client(simulator, no_wait_limiter, **kwargs) -> HubspotClient:
    return HubspotClient(
        access_token=simulator.token,
        base_url=simulator.base_url,
        search_limiter=no_wait_limiter,
        backoff_base_seconds=0,
        **kwargs,
    )


def _sync(client, *, trigger=SyncRun.Trigger.SCHEDULED, capture) -> SyncRun:
    with capture(execute=True):
        run = sync_run_start(trigger=trigger)
        return sync_run_execute(run=run, client=client)


def test_it_brings_in_every_deal_and_enqueues_each_once(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    run = _sync(_client(simulator, no_wait_limiter), capture=django_capture_on_commit_callbacks)

    assert run.status == "succeeded", run.error
    assert (run.fetched, run.new, run.updated, run.unchanged) == (450, 450, 0, 0)
    assert run.pages == 3  # 200 + 200 + 50
    assert Deal.objects.count() == 450
    assert sorted(enqueued) == sorted(str(i) for i in Deal.objects.values_list("id", flat=True))
    assert set(Deal.objects.values_list("status", "current_stage")) == {("pending", "intake")}
    stored = SyncRun.objects.get(id=run.id)
    assert (stored.progress_current, stored.progress_total) == (450, 450)
    assert stored.active is None and stored.finished_at is not None


def test_a_second_poll_of_the_same_window_creates_and_enqueues_nothing(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    client = _client(simulator, no_wait_limiter)
    _sync(client, capture=django_capture_on_commit_callbacks)
    enqueued.clear()
    before = dict(Deal.objects.values_list("id", "updated_at"))

    again = _sync(client, capture=django_capture_on_commit_callbacks)

    # It reads only what HubSpot modified since the last poll (less the overlap).
    assert again.kind == "changes" and again.fetched < 450 and again.requests == 1
    assert (again.new, again.updated, again.unchanged) == (0, 0, again.fetched)
    assert enqueued == []
    assert dict(Deal.objects.values_list("id", "updated_at")) == before


def test_it_updates_hubspot_fields_and_never_the_pipeline_ones(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    client = _client(simulator, no_wait_limiter)
    _sync(client, capture=django_capture_on_commit_callbacks)
    deal, other = Deal.objects.order_by("hubspot_deal_id")[:2]
    Deal.objects.filter(id=deal.id).update(status="done", current_stage="done")
    other_updated_at = Deal.objects.get(id=other.id).updated_at
    client.update_deals([(deal.hubspot_deal_id, {"dealname": "Renamed upstream", "amount": "99"})])

    run = _sync(client, capture=django_capture_on_commit_callbacks)

    assert (run.new, run.updated, run.unchanged) == (0, 1, run.fetched - 1)
    deal.refresh_from_db()
    assert (deal.name, deal.amount) == ("Renamed upstream", 99)
    assert (deal.status, deal.current_stage) == ("done", "done")
    assert Deal.objects.get(id=other.id).updated_at == other_updated_at


def test_the_window_starts_at_bootstrap_then_follows_the_latest_checked_in_time(settings):
    settings.HUBSPOT_BOOTSTRAP_DAYS, settings.HUBSPOT_LOOKBACK_DAYS = 30, 2
    now = timezone.now()
    assert sync_window(now=now) == (now - timedelta(days=30), now)

    latest = now - timedelta(hours=5)
    Deal.objects.create(hubspot_deal_id="1", hubspot_checked_in_at=latest)
    Deal.objects.create(hubspot_deal_id="2", hubspot_checked_in_at=latest - timedelta(days=9))

    assert sync_window(now=now) == (latest - timedelta(days=2), now)


def test_after_a_failed_sync_the_next_window_starts_where_that_one_did():
    now = timezone.now()
    Deal.objects.create(hubspot_deal_id="1", hubspot_checked_in_at=now)
    SyncRun.objects.create(
        trigger="scheduled",
        status="succeeded",
        started_at=now - timedelta(hours=3),
        window_start=now - timedelta(days=9),
    )
    SyncRun.objects.create(
        trigger="scheduled",
        status="failed",
        started_at=now - timedelta(hours=2),
        window_start=now - timedelta(days=7),
    )
    SyncRun.objects.create(
        trigger="backfill",
        status="failed",
        started_at=now - timedelta(hours=1),
        window_start=now - timedelta(days=90),
    )

    assert sync_window(now=now)[0] == now - timedelta(days=7)


def test_a_deal_that_shows_in_search_late_is_picked_up_inside_the_lookback(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    client = _client(simulator, no_wait_limiter)
    _sync(client, capture=django_capture_on_commit_callbacks)
    latest = Deal.objects.latest("hubspot_checked_in_at").hubspot_checked_in_at
    assert latest is not None
    # Checked in before the newest deal we have, but indexed by search only now.
    [late_id] = simulator.add_deals(count=1, checked_in_at=latest - timedelta(hours=20))
    enqueued.clear()

    run = _sync(client, capture=django_capture_on_commit_callbacks)

    assert (run.new, run.unchanged) == (1, run.fetched - 1)
    late = Deal.objects.get(hubspot_deal_id=late_id)
    assert enqueued == [str(late.id)]


def test_when_hubspot_fails_mid_sync_the_next_one_recovers_every_deal_exactly_once(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    client = _client(simulator, no_wait_limiter, max_retries=1)
    original = client.search_checked_in

    def failing_after_first_page(**window):
        for number, page in enumerate(original(**window)):
            yield page
            if number == 0:
                simulator.configure(error_500_share=1.0)

    monkeypatch.setattr(client, "search_checked_in", failing_after_first_page)
    failed = _sync(client, capture=django_capture_on_commit_callbacks)
    assert failed.status == "failed"
    assert "500" in failed.error
    assert Deal.objects.count() == 200  # the first page is kept

    simulator.configure(error_500_share=0.0)
    monkeypatch.setattr(client, "search_checked_in", original)
    recovered = _sync(client, capture=django_capture_on_commit_callbacks)

    assert recovered.status == "succeeded"
    assert recovered.window_start is not None and failed.window_start is not None
    assert recovered.window_start <= failed.window_start
    assert (recovered.new, recovered.unchanged) == (250, 200)
    assert Deal.objects.count() == 450
    assert len(enqueued) == len(set(enqueued)) == 450


def test_a_deal_our_columns_cannot_hold_is_set_aside_not_fatal(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    [huge] = simulator.add_deals(count=1, properties={"amount": "1e20"})
    [nul] = simulator.add_deals(count=1, properties={"dealname": "Null\x00byte Ltd"})

    run = _sync(_client(simulator, no_wait_limiter), capture=django_capture_on_commit_callbacks)

    assert run.status == "succeeded", run.error
    assert (run.fetched, run.new, run.invalid) == (452, 451, 1)
    assert not Deal.objects.filter(hubspot_deal_id=huge).exists()
    assert Deal.objects.get(hubspot_deal_id=nul).name == "Nullbyte Ltd"
    assert list(run.rejections.values_list("hubspot_deal_id", flat=True)) == [huge]


@responses.activate
def test_a_failed_sync_records_every_request_it_sent(no_wait_limiter, sleeps, enqueued):
    url = "https://hubspot.test/crm/objects/2026-09/deals/search"
    for _ in range(3):
        responses.post(url, status=500, json={"status": "error", "message": "boom"})
    client = HubspotClient(
        access_token="t",
        base_url="https://hubspot.test",
        search_limiter=no_wait_limiter,
        max_retries=2,
        sleep=sleeps,
    )

    run = sync_run_execute(run=sync_run_start(trigger=SyncRun.Trigger.SCHEDULED), client=client)

    stored = SyncRun.objects.get(id=run.id)
    assert stored.status == "failed"
    assert (stored.requests, stored.pages) == (3, 0)


def test_a_fix_in_hubspot_reruns_the_failed_deal_and_an_unchanged_repoll_does_not(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks
):
    client = _client(simulator, no_wait_limiter)
    [no_amount] = simulator.add_deals(count=1, properties={"amount": None})
    _sync(client, capture=django_capture_on_commit_callbacks)
    deal = Deal.objects.get(hubspot_deal_id=no_amount)
    deal_process(deal_id=deal.id)  # intake: "is missing amount"
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "intake")
    enqueued.clear()

    client.update_deals([(no_amount, {"amount": "1500"})])  # someone fills it in
    fixed = _sync(client, capture=django_capture_on_commit_callbacks)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage, deal.amount) == ("pending", "intake", 1500)
    assert [p.trigger for p in deal.passes.all()] == ["hubspot_change", "new"]
    assert (fixed.updated, fixed.restarted) == (1, 1)
    assert enqueued == [str(deal.id)]
    deal_process(deal_id=deal.id)
    assert Deal.objects.get(id=deal.id).status == "done"

    enqueued.clear()
    again = _sync(client, capture=django_capture_on_commit_callbacks)

    assert (again.updated, again.restarted, again.new) == (0, 0, 0)
    assert enqueued == []
    assert deal.passes.count() == 2


def test_the_rejected_records_are_kept_with_their_reasons_up_to_the_limit(
    simulator, no_wait_limiter, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("hubspot.services.sync.REJECTIONS_KEPT", 2)
    huge = simulator.add_deals(count=3, properties={"amount": "1e20"})

    run = _sync(_client(simulator, no_wait_limiter), capture=django_capture_on_commit_callbacks)

    assert run.invalid == 3
    kept = list(run.rejections.values_list("hubspot_deal_id", "reason"))
    assert [hubspot_id for hubspot_id, _ in kept] == sorted(huge)[:2]
    assert {reason for _, reason in kept} == {"amount 1E+20 does not fit numeric(18, 2)"}
