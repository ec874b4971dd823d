"""Bulk import by HubSpot deal id (hubspot/services/imports.py)."""

import json
import uuid
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from deals.models import Deal
from deals.tests.factories import DealFactory
from hubspot.models import DealImport, DealImportItem, DealPayload
from hubspot.selectors import deal_import_totals
from hubspot.services import deal_import_create, deal_import_run, deal_imports_resume_stalled
from hubspot.tests.factories import BATCH_READ_URL, deal_json, make_client
from hubspot.tests.simulator.helpers import sim_client

pytestmark = pytest.mark.django_db


def statuses(deal_import: DealImport) -> dict[str, str]:
    return dict(deal_import.items.values_list("hubspot_deal_id", "status"))


def test_each_id_ends_imported_already_present_not_found_or_failed(
    hubspot_simulator, enqueued, run_jobs, django_capture_on_commit_callbacks
):
    sim = hubspot_simulator
    new = sim.add_deals(count=3)
    [present] = sim.add_deals(count=1)
    [unchecked] = sim.add_deals(count=1, properties={"checked_in_at": None})
    DealFactory.create(hubspot_deal_id=present)
    ids = [*new, present, unchecked, "404404404", new[0]]  # a repeat, collapsed
    with django_capture_on_commit_callbacks(execute=True):
        deal_import = deal_import_create(hubspot_deal_ids=ids)
    client = sim_client(sim)

    with django_capture_on_commit_callbacks(execute=True):
        assert deal_import_run(import_id=deal_import.id, client=client)

    deal_import.refresh_from_db()
    assert run_jobs == [str(deal_import.id)]
    assert (deal_import.status, deal_import.total) == ("done", 6)
    assert statuses(deal_import) == {
        **dict.fromkeys(new, "imported"),
        present: "already_present",
        unchecked: "failed",
        "404404404": "not_found",
    }
    assert "checked_in_at is missing" in deal_import.items.get(hubspot_deal_id=unchecked).error
    assert client.request_count == 1
    created = Deal.objects.filter(hubspot_deal_id__in=new)
    assert sorted(enqueued) == sorted(str(d.id) for d in created)
    item_deal_ids = set(deal_import.items.exclude(deal_id=None).values_list("deal_id", flat=True))
    assert item_deal_ids == set(Deal.objects.values_list("id", flat=True))
    assert DealPayload.objects.filter(source="import").count() == 5
    assert deal_import_totals(import_id=deal_import.id) == {
        "total": 6,
        "done": 6,
        "imported": 3,
        "already_present": 1,
        "not_found": 1,
        "failed": 1,
    }


@responses.activate
def test_a_batch_hubspot_refuses_fails_its_items_and_the_rest_go_on(
    sleeps, enqueued, run_jobs, django_capture_on_commit_callbacks
):
    ids = [str(10_000 + n) for n in range(150)]
    first_batch = set(ids[:100])

    def batch_read(request):
        asked = [item["id"] for item in json.loads(request.body)["inputs"]]
        if asked[0] in first_batch:
            return 500, {}, json.dumps({"status": "error", "message": "internal"})
        return 200, {}, json.dumps({"status": "COMPLETE", "results": [deal_json(i) for i in asked]})

    responses.add_callback(responses.POST, BATCH_READ_URL, callback=batch_read)
    deal_import = deal_import_create(hubspot_deal_ids=ids)

    with django_capture_on_commit_callbacks(execute=True):
        deal_import_run(import_id=deal_import.id, client=make_client(sleeps, max_retries=1))

    result = statuses(deal_import)
    assert {result[i] for i in ids[:100]} == {"failed"}
    assert {result[i] for i in ids[100:]} == {"imported"}
    failed = deal_import.items.filter(status="failed").first()
    assert failed is not None
    assert "500" in failed.error
    assert DealImport.objects.get(id=deal_import.id).status == "done"
    assert len(enqueued) == 50


def test_a_finished_import_is_not_run_again(hubspot_simulator, run_jobs):
    deal_import = deal_import_create(hubspot_deal_ids=hubspot_simulator.add_deals(count=1))
    client = sim_client(hubspot_simulator)
    assert deal_import_run(import_id=deal_import.id, client=client)

    assert deal_import_run(import_id=deal_import.id, client=client) is False
    assert deal_import_run(import_id=uuid.uuid4(), client=client) is False
    assert client.request_count == 1


def test_an_import_whose_job_was_lost_is_sent_again(run_jobs):
    stalled = deal_import_create(hubspot_deal_ids=["1", "2"])
    fresh = deal_import_create(hubspot_deal_ids=["3"])
    DealImport.objects.filter(id=stalled.id).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    run_jobs.clear()

    assert deal_imports_resume_stalled() == 1
    assert run_jobs == [str(stalled.id)]
    assert DealImportItem.objects.filter(deal_import=fresh, status="pending").count() == 1


def test_importing_a_merged_away_id_brings_in_its_survivor_once_and_says_so(
    hubspot_simulator, enqueued, run_jobs, django_capture_on_commit_callbacks
):
    sim = hubspot_simulator
    a, b = sim.add_deals(count=2)
    c = sim.merge_deals(primary=a, merged=[b])
    deal_import = deal_import_create(hubspot_deal_ids=[a, b])

    with django_capture_on_commit_callbacks(execute=True):
        deal_import_run(import_id=deal_import.id, client=sim_client(sim))

    survivor = Deal.objects.get(hubspot_deal_id=c)
    items = {i.hubspot_deal_id: i for i in DealImportItem.objects.filter(deal_import=deal_import)}
    assert {i.merged_into for i in items.values()} == {c}
    assert {i.deal_id for i in items.values()} == {survivor.id}
    assert sorted(i.status for i in items.values()) == ["already_present", "imported"]
    assert Deal.objects.count() == 1 and enqueued == [str(survivor.id)]
