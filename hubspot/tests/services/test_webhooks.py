"""Webhook events recorded, then their deals read from the simulator and upserted
(hubspot/services/webhooks.py)."""

import time

import pytest
from django.utils import timezone

from deals.models import Deal
from hubspot.models import DealPayload, WebhookEvent
from hubspot.selectors import sync_health
from hubspot.services import webhook_events_process, webhook_events_record
from hubspot.tests.simulator.helpers import sim_client
from hubspot.types import HubspotError

pytestmark = pytest.mark.django_db


def creation(deal_id: str, event_id: int = 1) -> dict:
    return {
        "eventId": event_id,
        "subscriptionType": "deal.creation",
        "objectId": int(deal_id),
        "occurredAt": int(time.time() * 1000),
    }


def test_the_deals_of_recorded_events_are_upserted_and_enter_the_pipeline(
    hubspot_simulator, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    sim = hubspot_simulator
    [new_a, new_b] = sim.add_deals(count=2)
    [unchecked] = sim.add_deals(count=1, properties={"checked_in_at": None})
    events = [creation(new_a, 1), creation(new_a, 2), creation(new_b, 3)]
    events += [creation(unchecked, 4), creation("99999999999", 5)]
    webhook_events_record(events=events)
    client = sim_client(sim)

    with django_capture_on_commit_callbacks(execute=True):
        result = webhook_events_process(client=client)

    assert (result.events, result.imported, result.error) == (5, 2, "")
    assert client.request_count == 1  # one batch read for every event
    deals = Deal.objects.filter(hubspot_deal_id__in=[new_a, new_b])
    assert sorted(enqueued) == sorted(str(deal.id) for deal in deals)
    outcomes = dict(WebhookEvent.objects.values_list("event_id", "outcome"))
    assert outcomes == {
        1: "imported",
        2: "imported",
        3: "imported",
        4: "invalid",
        5: "not_found",
    }
    assert not WebhookEvent.objects.filter(status="pending").exists()
    assert set(DealPayload.objects.values_list("hubspot_deal_id", "source")) == {
        (new_a, "webhook"),
        (new_b, "webhook"),
        (unchecked, "webhook"),
    }


def test_an_event_for_a_deal_we_have_changes_nothing_new(
    hubspot_simulator, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    [deal_id] = hubspot_simulator.add_deals(count=1)
    client = sim_client(hubspot_simulator)
    webhook_events_record(events=[creation(deal_id, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(client=client)
    webhook_events_record(events=[creation(deal_id, 2)])

    with django_capture_on_commit_callbacks(execute=True):
        result = webhook_events_process(client=client)

    assert result.imported == 0
    assert WebhookEvent.objects.get(event_id=2).outcome == "already_present"
    assert len(enqueued) == 1 and Deal.objects.count() == 1


def test_when_hubspot_fails_the_events_stay_pending_for_the_next_run(
    hubspot_simulator, enqueued, monkeypatch
):
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    [deal_id] = hubspot_simulator.add_deals(count=1)
    webhook_events_record(events=[creation(deal_id)])
    hubspot_simulator.configure(error_500_share=1)

    failed = webhook_events_process(client=sim_client(hubspot_simulator, max_retries=1))

    event = WebhookEvent.objects.get()
    assert "500" in failed.error
    assert (event.status, event.attempts) == ("pending", 1)
    assert "500" in event.error
    assert not Deal.objects.exists()

    hubspot_simulator.configure(error_500_share=0)
    recovered = webhook_events_process(client=sim_client(hubspot_simulator))

    assert recovered.imported == 1
    assert WebhookEvent.objects.get().status == "done"


def test_a_deletion_archives_the_deal_and_a_restore_reads_it_again_in_any_order(
    hubspot_simulator, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    sim = hubspot_simulator
    [deal_id] = sim.add_deals(count=1)
    client = sim_client(sim)
    webhook_events_record(events=[creation(deal_id, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(client=client)
    now_ms = int(time.time() * 1000)
    deletion = {**creation(deal_id, 2), "subscriptionType": "deal.deletion", "occurredAt": now_ms}
    restore = {**creation(deal_id, 3), "subscriptionType": "deal.restore"}

    # The restore (earlier) arrives after the deletion (later): the deal stays archived.
    webhook_events_record(events=[deletion])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(client=client)
    webhook_events_record(events=[{**restore, "occurredAt": now_ms - 1000}])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(client=client)
    deal = Deal.objects.get(hubspot_deal_id=deal_id)
    assert deal.hubspot_state == "archived"
    assert WebhookEvent.objects.get(event_id=2).outcome == "archived"

    # A restore after the deletion: active again, read from HubSpot.
    webhook_events_record(events=[{**restore, "eventId": 4, "occurredAt": now_ms + 1000}])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(client=client)
    deal.refresh_from_db()
    assert deal.hubspot_state == "active"
    assert WebhookEvent.objects.get(event_id=4).outcome == "already_present"


def _refusing(client, poison: str):
    """The client, but HubSpot refuses (400, not transient) any batch read naming `poison`."""
    read = client.read_deals

    def read_deals(ids):
        if poison in ids:
            raise HubspotError(status=400, category="VALIDATION_ERROR", message="bad id")
        return read(ids)

    client.read_deals = read_deals
    return client


def test_a_poison_event_is_retried_a_few_times_then_failed_and_never_blocks_the_others(
    hubspot_simulator, enqueued, settings, monkeypatch
):
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    settings.HUBSPOT_WEBHOOK_MAX_ATTEMPTS = 2
    [good, later] = hubspot_simulator.add_deals(count=2)
    webhook_events_record(events=[creation("123", 1), creation(good, 2)])
    client = _refusing(sim_client(hubspot_simulator), poison="123")

    first = webhook_events_process(client=client)  # the poison first in the batch
    poison = WebhookEvent.objects.get(event_id=1)
    assert (first.error, poison.status, poison.attempts) == ("", "pending", 1)
    assert WebhookEvent.objects.get(event_id=2).status == "done"

    webhook_events_record(events=[creation(later, 3)])
    webhook_events_process(client=client)

    poison.refresh_from_db()
    assert (poison.status, poison.attempts) == ("failed", 2)
    assert "bad id" in poison.error
    assert WebhookEvent.objects.get(event_id=3).status == "done"
    assert Deal.objects.filter(hubspot_deal_id__in=[good, later]).count() == 2
    assert sync_health(now=timezone.now()).failed_webhook_events == 1
    webhook_events_process(client=client)
    assert WebhookEvent.objects.get(event_id=1).attempts == 2  # failed: never read again
