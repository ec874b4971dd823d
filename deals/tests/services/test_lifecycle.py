"""Deals deleted and restored in HubSpot (deals/services/lifecycle.py): the pipeline stops at
a stage boundary, nothing more is written to HubSpot, operators' actions are refused, and a
restore goes on where it stopped; late and repeated events change nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import DealWriteback
from deals.pipeline import deal_process
from deals.services import deal_rerun, deal_retry, deals_archive, deals_restore
from deals.services.writeback import deal_writeback_queue
from deals.stages import StageContext
from deals.tests.factories import DealFactory
from vcc.errors import Conflict

pytestmark = pytest.mark.django_db


def test_a_deletion_mid_pipeline_stops_at_the_next_stage_boundary_and_a_restore_goes_on(
    use_stage,
):
    deal = DealFactory.create()
    deleted_at = timezone.now()

    def segmentation(context: StageContext) -> None:
        # HubSpot deletes the deal while this stage runs: the stage still finishes.
        deals_archive(hubspot_deal_ids=[context.deal.hubspot_deal_id], at=deleted_at)

    use_stage("segmentation", segmentation)
    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.hubspot_state == "archived" and deal.hubspot_state_at == deleted_at
    assert (deal.status, deal.current_stage) == ("pending", "categorization")
    runs = {run.stage: run.status for run in deal.pipeline_runs.all()}
    assert runs == {"intake": "succeeded", "segmentation": "succeeded"}

    # A queued job for the archived deal does nothing.
    deal_process(deal_id=deal.id)
    assert deal.pipeline_runs.count() == 2

    restored = deals_restore(
        hubspot_deal_ids=[deal.hubspot_deal_id], at=deleted_at + timedelta(minutes=1)
    )
    assert restored == 1
    deal_process(deal_id=deal.id)
    deal.refresh_from_db()
    assert (deal.hubspot_state, deal.status, deal.current_stage) == ("active", "done", "done")
    assert not deal.pipeline_runs.filter(stage="segmentation").exclude(attempt=1).exists()


def test_late_and_repeated_events_change_nothing():
    deal = DealFactory.create()
    at = timezone.now()

    assert deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=at) == 1
    assert deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=at) == 0  # twice
    # A restore that happened before the deletion arrives after it: still archived.
    late = deals_restore(hubspot_deal_ids=[deal.hubspot_deal_id], at=at - timedelta(seconds=5))
    assert late == 0
    deal.refresh_from_db()
    assert deal.hubspot_state == "archived"


def test_a_deletion_drops_the_unsent_outcome(settings):
    settings.HUBSPOT_WRITEBACK_ENABLED = True
    deal = DealFactory.create(status="done", current_stage="done")
    deal_writeback_queue(deal_id=deal.id, deal_status="done", stage="done", now=timezone.now())
    assert DealWriteback.objects.filter(deal=deal, state="queued").exists()

    deleted_at = timezone.now()
    deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=deleted_at)

    assert not DealWriteback.objects.filter(deal=deal).exists()

    # Restored: HubSpot's deal is back, and our outcome is queued for it again.
    deals_restore(hubspot_deal_ids=[deal.hubspot_deal_id], at=deleted_at + timedelta(seconds=1))
    assert DealWriteback.objects.get(deal=deal).state == "queued"


def test_operators_actions_on_a_deleted_deal_are_refused_saying_why():
    deal = DealFactory.create(status="failed", current_stage="appraisal")
    deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=timezone.now())

    for action in (deal_rerun, deal_retry):
        with pytest.raises(Conflict) as refused:
            action(deal_id=deal.id, requested_by="op")
        assert refused.value.message == "The deal was deleted in HubSpot; restore it there first."
    deal.refresh_from_db()
    assert deal.status == "failed"


def test_the_api_refuses_an_action_on_a_deleted_deal_with_409_and_shows_the_state(
    staff_client,
):
    deal = DealFactory.create(status="failed", current_stage="appraisal")
    deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=timezone.now())

    refused = staff_client.post(f"/api/deals/{deal.id}/retry/")
    detail = staff_client.get(f"/api/deals/{deal.id}/").json()

    assert refused.status_code == 409 and "deleted in HubSpot" in refused.json()["detail"]
    assert detail["hubspot_state"] == "archived" and detail["hubspot_state_at"]
    assert detail["merged_into_hubspot_deal_id"] is None
