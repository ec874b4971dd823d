"""deal.merge webhooks, and merges met by other events, against the simulator
(hubspot/services/webhooks.py): one deal of ours for the survivor, whatever the order."""

import time

import pytest

from deals.models import Deal, PipelinePass
from hubspot.models import WebhookEvent
from hubspot.services import webhook_events_process, webhook_events_record
from hubspot.tests.services.test_webhooks import creation
from hubspot.tests.simulator.helpers import sim_client

pytestmark = pytest.mark.django_db


def merge_event(*, primary: str, merged: list[str], new: str, event_id: int) -> dict:
    return {
        "eventId": event_id,
        "subscriptionType": "deal.merge",
        "objectId": int(new),
        "occurredAt": int(time.time() * 1000),
        "primaryObjectId": int(primary),
        "mergedObjectIds": [int(i) for i in merged],
        "newObjectId": int(new),
    }


@pytest.fixture
def deliver(hubspot_simulator, enqueued, django_capture_on_commit_callbacks, monkeypatch):
    """Record events as the endpoint does, then process them as the job does."""
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda: None)
    client = sim_client(hubspot_simulator)

    def deliver(*events: dict) -> None:
        webhook_events_record(events=list(events))
        with django_capture_on_commit_callbacks(execute=True):
            webhook_events_process(client=client)

    return deliver


def _states(*hubspot_ids: str) -> dict[str, tuple[str, str | None]]:
    deals = Deal.objects.filter(hubspot_deal_id__in=hubspot_ids).select_related("merged_into")
    return {
        d.hubspot_deal_id: (
            d.hubspot_state,
            d.merged_into.hubspot_deal_id if d.merged_into else None,
        )
        for d in deals
    }


@pytest.mark.parametrize("survivor_first", [False, True], ids=["new", "already-synced"])
def test_a_merge_leaves_one_active_survivor_with_one_pipeline(
    hubspot_simulator, deliver, enqueued, survivor_first
):
    sim = hubspot_simulator
    a, b = sim.add_deals(count=2)
    deliver(creation(a, 1), creation(b, 2))
    c = sim.merge_deals(primary=a, merged=[b])
    if survivor_first:
        deliver(creation(c, 3))  # the new deal's creation event before the merge's

    merge = merge_event(primary=a, merged=[b], new=c, event_id=4)
    deliver(merge)
    deliver({**merge, "attemptNumber": 1})  # redelivered
    deliver({**merge, "eventId": 5})  # sent twice

    assert _states(a, b, c) == {a: ("merged", c), b: ("merged", c), c: ("active", None)}
    survivor = Deal.objects.get(hubspot_deal_id=c)
    assert enqueued.count(str(survivor.id)) == 1
    assert PipelinePass.objects.get(deal=survivor).trigger == "merge"
    expected = "already_present" if survivor_first else "imported"
    assert WebhookEvent.objects.get(event_id=4).outcome == expected


def test_a_deletion_of_a_merged_away_deal_before_the_merge_ends_the_same(
    hubspot_simulator, deliver
):
    sim = hubspot_simulator
    a, b = sim.add_deals(count=2)
    deliver(creation(a, 1), creation(b, 2))
    c = sim.merge_deals(primary=a, merged=[b])
    deletion = {**creation(b, 3), "subscriptionType": "deal.deletion"}

    deliver(deletion)
    deliver(merge_event(primary=a, merged=[b], new=c, event_id=4))
    deliver({**creation(a, 5), "subscriptionType": "deal.deletion"})  # after: changes nothing

    assert _states(a, b, c) == {a: ("merged", c), b: ("merged", c), c: ("active", None)}


def test_a_late_event_about_a_merged_away_deal_brings_in_its_survivor_only(
    hubspot_simulator, deliver
):
    sim = hubspot_simulator
    a, b = sim.add_deals(count=2)
    c = sim.merge_deals(primary=a, merged=[b])

    # A's creation event arrives after the merge: reading A answers C.
    deliver(creation(a, 1))

    assert _states(a, b, c) == {c: ("active", None)}
    event = WebhookEvent.objects.get(event_id=1)
    assert (event.outcome, event.error) == ("merged", f"merged into {c} in HubSpot")


def test_a_merge_whose_survivor_cannot_be_read_yet_waits_for_a_later_pass(
    hubspot_simulator, deliver
):
    sim = hubspot_simulator
    a, b = sim.add_deals(count=2)
    deliver(creation(a, 1), creation(b, 2))
    unknown = "99999999999"  # HubSpot has no record of the new deal (yet)

    deliver(merge_event(primary=a, merged=[b], new=unknown, event_id=3))

    event = WebhookEvent.objects.get(event_id=3)
    assert (event.status, event.attempts) == ("pending", 1)  # once in this pass, not five
    assert _states(a, b) == {a: ("active", None), b: ("active", None)}
