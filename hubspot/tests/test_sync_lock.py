"""One sync at a time: scheduled ticks, manual syncs and the command share one lock."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from hubspot.client import HubspotClient
from hubspot.models import ACTIVE, SyncRun
from hubspot.services import sync_run_execute, sync_run_request, sync_run_start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_sync_broker(no_broker, monkeypatch):
    monkeypatch.setattr("hubspot.tasks.run_sync.delay", lambda run_id: None)


@pytest.mark.django_db(transaction=True)
def test_two_syncs_started_at_once_run_once_and_record_the_skip():
    start = threading.Barrier(2)
    runs: list[SyncRun] = []

    def tick():
        try:
            start.wait(timeout=10)
            runs.append(sync_run_start(trigger=SyncRun.Trigger.SCHEDULED))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(run.status for run in runs) == ["running", "skipped"]
    [skipped] = [run for run in runs if run.status == "skipped"]
    assert "another sync (scheduled" in skipped.progress_message
    assert SyncRun.objects.filter(active=ACTIVE).count() == 1


def test_a_tick_during_a_manual_sync_is_skipped():
    manual, created = sync_run_request()
    assert created and manual.status == "queued"

    tick = sync_run_start(trigger=SyncRun.Trigger.SCHEDULED)

    assert tick.status == "skipped"
    assert str(manual.id) in tick.progress_message


def test_asking_again_returns_the_sync_in_flight_not_a_second_one():
    first, created = sync_run_request()
    again, created_again = sync_run_request()
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert SyncRun.objects.count() == 1


def test_a_sync_whose_worker_died_frees_the_lock_after_its_ttl(settings):
    settings.HUBSPOT_SYNC_LOCK_TTL_SECONDS = 600
    dead = SyncRun.objects.create(
        trigger="scheduled",
        status="running",
        active=ACTIVE,
        heartbeat_at=timezone.now() - timedelta(seconds=601),
    )

    run = sync_run_start(trigger=SyncRun.Trigger.SCHEDULED)

    assert run.status == "running"
    dead.refresh_from_db()
    assert (dead.status, dead.active) == ("failed", None)
    assert dead.error.startswith("no sign of life for 600s")


def test_a_sync_that_lost_its_lock_stops_before_writing(
    start_hubspot_simulator, no_wait_limiter, monkeypatch
):
    simulator = start_hubspot_simulator(deals=500, extra_args=["--search-rps", "0"])
    client = HubspotClient(
        access_token=simulator.token, base_url=simulator.base_url, search_limiter=no_wait_limiter
    )
    run = sync_run_start(trigger=SyncRun.Trigger.SCHEDULED)
    original = client.search_checked_in

    def expiring_after_first_page(**window):
        for number, page in enumerate(original(**window)):
            yield page
            if number == 0:  # meanwhile the lock expired and another sync took it
                SyncRun.objects.filter(id=run.id).update(active=None, status="failed")
                SyncRun.objects.create(trigger="manual", status="running", active=ACTIVE)

    monkeypatch.setattr(client, "search_checked_in", expiring_after_first_page)
    run = sync_run_execute(run=run, client=client)

    assert run.status == "failed"
    assert "another sync took over" in run.error
    assert run.fetched == 200  # the second page was not written
