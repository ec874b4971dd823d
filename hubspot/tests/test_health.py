"""GET /api/sync/health/: ingestion at a glance for the queue page's strip."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from hubspot.models import SyncRun
from hubspot.quota import build_daily_quota
from hubspot.services import sync_run_execute, sync_run_start
from hubspot.tests.factories import BATCH_READ_URL, SEARCH_URL, make_client
from vcc.testing import role_user

pytestmark = pytest.mark.django_db

URL = "/api/sync/health/"


@pytest.fixture(autouse=True)
def five_minute_polls(settings):
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(role_user("op", "operator"))
    return client


def _run(status: str, minutes_ago: float, **fields) -> SyncRun:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        trigger=fields.pop("trigger", "scheduled"),
        status=status,
        created_at=at,
        started_at=at,
        finished_at=None if status in ("queued", "running") else at + timedelta(seconds=2),
        **fields,
    )


def test_before_any_sync_it_says_so_without_alarm(staff_client):
    body = staff_client.get(URL).json()

    assert body["last_sync"] is None
    assert (body["failing"], body["problem"], body["next_due_at"]) == (False, None, None)
    assert body["schedule"] == "every 5 minutes"


def test_a_recent_success_shows_what_it_brought_and_when_the_next_is_due(staff_client):
    run = _run("succeeded", 2, new=3, updated=5, restarted=1, invalid=2)
    _run("skipped", 1)  # a tick that found another sync in flight: not "the last sync"

    body = staff_client.get(URL).json()

    last = body["last_sync"]
    assert (last["id"], last["status"]) == (str(run.id), "succeeded")
    assert (last["new"], last["updated"], last["restarted"], last["invalid"]) == (3, 5, 1, 2)
    assert body["failing"] is False
    skipped = SyncRun.objects.get(status="skipped")
    assert body["next_due_at"].startswith(
        (skipped.created_at + timedelta(minutes=5)).isoformat()[:19]
    )


def test_the_last_sync_failing_raises_the_banner_with_its_error(staff_client):
    _run("succeeded", 7)
    _run("failed", 2, error="HubSpot answered 401: the token was refused")

    body = staff_client.get(URL).json()

    assert body["failing"] is True
    assert body["problem"] == "The last sync failed: HubSpot answered 401: the token was refused."


def test_no_success_in_three_poll_intervals_raises_the_banner(staff_client):
    _run("succeeded", 16)
    _run("running", 1)  # a sync in flight neither failed nor succeeded yet

    body = staff_client.get(URL).json()

    assert body["last_sync"]["status"] == "running"
    assert body["failing"] is True
    assert body["problem"] == "No sync has succeeded in the last 16 minutes."


def test_a_sync_that_never_succeeded_is_failing_after_three_intervals(staff_client):
    _run("queued", 20)

    assert staff_client.get(URL).json()["problem"] == "No sync has succeeded yet."


def test_a_sync_running_after_a_failure_still_shows_the_failure_and_the_last_success(
    staff_client,
):
    success = _run("succeeded", 9)
    _run("failed", 4, error="HubSpot answered 500")
    running = _run("running", 2, trigger="manual")
    _run("skipped", 1)

    body = staff_client.get(URL).json()

    assert body["last_sync"]["id"] == str(running.id)  # skips left out
    assert body["problem"] == "The last sync failed: HubSpot answered 500."
    assert success.finished_at is not None
    assert body["last_success_at"].startswith(success.finished_at.isoformat()[:19])
    # The next tick counts from the latest scheduled run, skipped ones included.
    skipped = SyncRun.objects.get(status="skipped")
    assert body["next_due_at"].startswith(
        (skipped.created_at + timedelta(minutes=5)).isoformat()[:19]
    )


def test_the_schedule_comes_from_beat_and_a_paused_one_says_so(staff_client):
    every = IntervalSchedule.objects.create(every=120, period=IntervalSchedule.SECONDS)
    last = timezone.now() - timedelta(seconds=30)
    task = PeriodicTask.objects.create(
        name="hubspot-poll", task="hubspot.tasks.poll_hubspot", interval=every, last_run_at=last
    )

    body = staff_client.get(URL).json()
    assert body["schedule"] == "every 2 minutes"
    assert body["next_due_at"].startswith((last + timedelta(seconds=120)).isoformat()[:19])

    task.enabled = False
    task.save()
    body = staff_client.get(URL).json()
    assert (body["schedule"], body["next_due_at"]) == ("paused in the admin (Periodic tasks)", None)


def test_it_is_cheap_to_poll(staff_client, django_assert_max_num_queries):
    _run("succeeded", 30)
    _run("failed", 1, error="boom")

    # The session and user, then a few indexed reads of small tables (and the pipeline's
    # side of the health: the oldest pending deal and write-back errors, webhook reads).
    with django_assert_max_num_queries(9):
        assert staff_client.get(URL).status_code == 200


@responses.activate
@pytest.mark.usefixtures("account_at_noon")
def test_a_sync_stopped_by_hubspots_daily_limit_fails_saying_so_and_when_calls_resume(
    staff_client, sleeps
):
    daily_429 = {"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY"}
    responses.post(SEARCH_URL, status=429, json=daily_429)
    run = sync_run_start(trigger="manual")

    sync_run_execute(run=run, client=make_client(sleeps, quota=build_daily_quota()))

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("HubSpot's daily API limit is reached: calls resume at ")
    body = staff_client.get(URL).json()
    assert body["failing"] is True
    assert body["problem"].startswith("HubSpot's daily API limit is reached: calls resume at")
    assert body["daily_limit"]["reached"] is True and body["daily_limit"]["resume_at"]


@responses.activate
def test_it_shows_the_daily_calls_remaining_hubspot_last_reported(staff_client, sleeps):
    headers = {"X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "7"}
    responses.post(BATCH_READ_URL, json={"status": "COMPLETE", "results": []}, headers=headers)
    make_client(sleeps, quota=build_daily_quota()).read_deals(["1"])

    daily = staff_client.get(URL).json()["daily_limit"]

    assert (daily["limit"], daily["remaining"], daily["reached"]) == (500000, 7, False)
    assert daily["resume_at"] is None and daily["reported_at"]
