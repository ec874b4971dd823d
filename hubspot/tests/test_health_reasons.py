"""GET /api/sync/health/ as the system's health: ok, degraded or failing, with each reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.tests.factories import DealFactory, DealWritebackFactory
from hubspot.models import SyncRun, WebhookEvent
from hubspot.quota import build_daily_quota

pytestmark = pytest.mark.django_db

URL = "/api/sync/health/"


@pytest.fixture(autouse=True)
def settings_for_health(settings):
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5
    settings.PIPELINE_BACKLOG_ALERT_MINUTES = 30
    build_daily_quota().clear()
    yield
    build_daily_quota().clear()


def _run(status: str, minutes_ago: float, **fields) -> SyncRun:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        trigger="scheduled", status=status, created_at=at, started_at=at, finished_at=at, **fields
    )


def _health(client) -> tuple[str, list[tuple[str, str]], list[str]]:
    body = client.get(URL).json()
    reasons = body["reasons"]
    return (
        body["status"],
        [(r["code"], r["severity"]) for r in reasons],
        [r["message"] for r in reasons],
    )


def test_a_quiet_healthy_system_is_ok_with_no_reason(staff_client):
    _run("succeeded", 2)
    DealFactory.create()  # pending a moment: nothing wrong

    assert _health(staff_client)[:2] == ("ok", [])


def test_the_last_sync_failing_is_failing(staff_client):
    _run("failed", 1, error="HubSpot answered 401")

    status, reasons, messages = _health(staff_client)

    assert (status, reasons) == ("failing", [("sync_failed", "failing")])
    assert messages == ["The last sync failed: HubSpot answered 401."]


def test_no_sync_succeeding_in_three_intervals_is_failing(staff_client):
    _run("succeeded", 16)

    assert _health(staff_client)[:2] == ("failing", [("sync_stale", "failing")])


def test_a_pending_deal_older_than_the_alert_is_failing(staff_client):
    _run("succeeded", 1)
    deal = DealFactory.create()
    Deal.objects.filter(id=deal.id).update(updated_at=timezone.now() - timedelta(minutes=45))
    archived = DealFactory.create(hubspot_state="archived")  # waits for a restore: fine
    Deal.objects.filter(id=archived.id).update(updated_at=timezone.now() - timedelta(days=2))

    status, reasons, messages = _health(staff_client)

    assert (status, reasons) == ("failing", [("backlog_old", "failing")])
    assert messages[0].startswith("The oldest pending deal has waited 45 minutes")


def test_write_backs_in_error_degrade(staff_client):
    _run("succeeded", 1)
    deal = DealFactory.create(status="failed")
    DealWritebackFactory.create(deal=deal, state="error")

    status, reasons, messages = _health(staff_client)

    assert (status, reasons) == ("degraded", [("writebacks_error", "degraded")])
    assert messages == ["1 write-back(s) to HubSpot in error: retry them in the admin."]


def test_webhook_events_given_up_degrade(staff_client):
    _run("succeeded", 1)
    WebhookEvent.objects.create(
        dedupe_key="k1",
        event_id=1,
        subscription_type="deal.creation",
        hubspot_deal_id="77",
        occurred_at=timezone.now(),
        attempts=5,
        status=WebhookEvent.Status.FAILED,
        error="HubSpot refused the read (400)",
    )
    WebhookEvent.objects.create(  # its read failed once: retried, nothing wrong yet
        dedupe_key="k3",
        event_id=3,
        subscription_type="deal.creation",
        hubspot_deal_id="79",
        occurred_at=timezone.now(),
        attempts=1,
        error="HubSpot answered 500",
    )
    WebhookEvent.objects.create(  # not read yet: nothing wrong
        dedupe_key="k2",
        event_id=2,
        subscription_type="deal.creation",
        hubspot_deal_id="78",
        occurred_at=timezone.now(),
    )

    assert _health(staff_client)[:2] == ("degraded", [("webhook_events_failed", "degraded")])


@pytest.mark.usefixtures("account_at_noon")
def test_hubspots_daily_limit_low_degrades_and_reached_fails(staff_client):
    _run("succeeded", 1)
    quota = build_daily_quota()
    quota.record(limit=250_000, remaining=24_999)

    status, reasons, messages = _health(staff_client)
    assert (status, reasons) == ("degraded", [("daily_limit_low", "degraded")])
    assert messages == [
        "HubSpot's daily API limit is nearly spent: 24,999 of 250,000 calls left today."
    ]

    quota.record(limit=250_000, remaining=25_000)
    assert _health(staff_client)[:2] == ("ok", [])

    quota.stop()
    assert _health(staff_client)[:2] == ("failing", [("daily_limit_reached", "failing")])


def test_reasons_come_worst_first(staff_client):
    _run("succeeded", 1)
    _run("failed", 0.5, error="boom", kind="reconcile")
    deal = DealFactory.create()
    Deal.objects.filter(id=deal.id).update(updated_at=timezone.now() - timedelta(hours=2))

    status, reasons, _ = _health(staff_client)

    assert status == "failing"
    assert reasons == [("backlog_old", "failing"), ("reconcile_failed", "degraded")]
