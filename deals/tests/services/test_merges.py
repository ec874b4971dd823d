"""Deals merged in HubSpot (deals/services/lifecycle.py `deals_merge`, applied by the one
upsert): the survivor is one deal with one pipeline, the merged-away deals keep their
history, stop at a stage boundary and are never written to; repeats and late events change
nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Deal, DealWriteback, PipelinePass
from deals.pipeline import deal_process
from deals.services import (
    DealFromHubspot,
    deal_rerun,
    deals_archive,
    deals_merge,
    deals_restore,
    deals_sweep_stuck,
    deals_upsert_from_hubspot,
)
from deals.services.writeback import deal_writeback_queue
from deals.tests.factories import DealFactory
from vcc.errors import Conflict

pytestmark = pytest.mark.django_db


def survivor_of(*merged: Deal, hubspot_deal_id: str = "77000000001") -> DealFromHubspot:
    """The new deal HubSpot makes of a merge, naming what it absorbed."""
    return DealFromHubspot(
        hubspot_deal_id=hubspot_deal_id,
        name="Merged deal",
        amount=None,
        deal_stage=None,
        hubspot_created_at=None,
        hubspot_checked_in_at=timezone.now(),
        merged_from=tuple(deal.hubspot_deal_id for deal in merged),
    )


def test_the_survivor_is_one_new_deal_on_a_merge_pass_and_the_others_are_merged_into_it(
    enqueued, django_capture_on_commit_callbacks
):
    a, b = DealFactory.create(), DealFactory.create(status="done", current_stage="done")

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_upsert_from_hubspot(
            deals=[survivor_of(a, b)], now=timezone.now(), source="test"
        )

    survivor = Deal.objects.get(hubspot_deal_id="77000000001")
    assert result.merged == 2 and [d for d, _ in result.created] == [survivor.id]
    assert survivor.hubspot_state == "active" and survivor.status == "pending"
    assert PipelinePass.objects.get(deal=survivor).trigger == PipelinePass.Trigger.MERGE
    assert enqueued == [str(survivor.id)]
    for deal in (a, b):
        deal.refresh_from_db()
        assert (deal.hubspot_state, deal.merged_into_id) == ("merged", survivor.id)
    assert {d.id for d in survivor.merged_from.all()} == {a.id, b.id}
    # Their history stays theirs, readable from the survivor.
    assert a.passes.count() == 1


def test_the_same_merge_twice_and_the_survivor_read_again_change_nothing(
    enqueued, django_capture_on_commit_callbacks
):
    a, b = DealFactory.create(), DealFactory.create()
    first_seen = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        deals_upsert_from_hubspot(deals=[survivor_of(a, b)], now=first_seen, source="test")
    survivor = Deal.objects.get(hubspot_deal_id="77000000001")

    with django_capture_on_commit_callbacks(execute=True):
        again = deals_upsert_from_hubspot(
            deals=[survivor_of(a, b)], now=first_seen + timedelta(minutes=1), source="test"
        )
    twice = deals_merge(
        survivor_hubspot_id=survivor.hubspot_deal_id,
        merged_hubspot_ids=[a.hubspot_deal_id, b.hubspot_deal_id],
        at=first_seen,
    )

    assert (again.merged, twice, again.created) == (0, 0, [])
    assert Deal.objects.count() == 3 and survivor.passes.count() == 1
    assert enqueued == [str(survivor.id)]


def test_a_deletion_of_a_merged_away_deal_before_or_after_the_merge_ends_the_same():
    early, late = DealFactory.create(), DealFactory.create()
    survivor = DealFactory.create(hubspot_deal_id="77000000001")
    at = timezone.now()

    # One deal's deletion event comes before the merge, the other's after it.
    deals_archive(hubspot_deal_ids=[early.hubspot_deal_id], at=at)
    deals_merge(
        survivor_hubspot_id=survivor.hubspot_deal_id,
        merged_hubspot_ids=[early.hubspot_deal_id, late.hubspot_deal_id],
        at=at,
    )
    deals_archive(hubspot_deal_ids=[late.hubspot_deal_id], at=at + timedelta(seconds=1))
    deals_restore(hubspot_deal_ids=[early.hubspot_deal_id], at=at + timedelta(seconds=2))

    states = set(
        Deal.objects.filter(id__in=[early.id, late.id]).values_list(
            "hubspot_state", "merged_into_id"
        )
    )
    assert states == {("merged", survivor.id)}


def test_a_survivor_merged_again_takes_what_it_had_absorbed():
    a = DealFactory.create()
    c = DealFactory.create(hubspot_deal_id="77000000001")
    d = DealFactory.create(hubspot_deal_id="77000000002")
    at = timezone.now()
    deals_merge(
        survivor_hubspot_id=c.hubspot_deal_id, merged_hubspot_ids=[a.hubspot_deal_id], at=at
    )

    # HubSpot's new survivor names everything it absorbed, transitively.
    deals_merge(
        survivor_hubspot_id=d.hubspot_deal_id,
        merged_hubspot_ids=[a.hubspot_deal_id, c.hubspot_deal_id],
        at=at + timedelta(seconds=1),
    )
    # The first merge's event, delivered again late, moves nothing back.
    deals_merge(
        survivor_hubspot_id=c.hubspot_deal_id, merged_hubspot_ids=[a.hubspot_deal_id], at=at
    )

    assert set(d.merged_from.values_list("id", flat=True)) == {a.id, c.id}


def test_a_merge_drops_the_unsent_outcomes_and_refuses_operators_actions(settings):
    settings.HUBSPOT_WRITEBACK_ENABLED = True
    a = DealFactory.create(status="done", current_stage="done")
    survivor = DealFactory.create(hubspot_deal_id="77000000001")
    deal_writeback_queue(deal_id=a.id, deal_status="done", stage="done", now=timezone.now())

    deals_merge(
        survivor_hubspot_id=survivor.hubspot_deal_id,
        merged_hubspot_ids=[a.hubspot_deal_id],
        at=timezone.now(),
    )

    assert not DealWriteback.objects.filter(deal=a).exists()
    with pytest.raises(Conflict) as refused:
        deal_rerun(deal_id=a.id, requested_by="op")
    assert "merged into 77000000001" in refused.value.message


def test_a_change_to_a_failed_merged_away_deal_does_not_send_it_round_again(
    enqueued, django_capture_on_commit_callbacks
):
    a = DealFactory.create(status="failed", current_stage="appraisal")
    survivor = DealFactory.create(hubspot_deal_id="77000000001")
    deals_merge(
        survivor_hubspot_id=survivor.hubspot_deal_id,
        merged_hubspot_ids=[a.hubspot_deal_id],
        at=timezone.now(),
    )
    stale = DealFromHubspot(
        hubspot_deal_id=a.hubspot_deal_id,
        name="changed in a stale search result",
        amount=None,
        deal_stage=None,
        hubspot_created_at=None,
        hubspot_checked_in_at=timezone.now(),
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_upsert_from_hubspot(deals=[stale], now=timezone.now(), source="test")

    a.refresh_from_db()
    assert (result.restarted, a.status, list(enqueued)) == ([], "failed", [])


def test_the_survivor_waits_while_a_merged_away_deal_finishes_its_stage_then_is_woken(
    use_stage, enqueued, django_capture_on_commit_callbacks
):
    a = DealFactory.create()
    survivor = DealFactory.create(hubspot_deal_id="77000000001")
    seen: dict[str, object] = {}

    def segmentation(context) -> None:
        # HubSpot merges A while its stage runs; the survivor's job arrives meanwhile.
        deals_merge(
            survivor_hubspot_id=survivor.hubspot_deal_id,
            merged_hubspot_ids=[a.hubspot_deal_id],
            at=timezone.now(),
        )
        seen["retry_in"] = deal_process(deal_id=survivor.id)
        seen["survivor_runs"] = survivor.pipeline_runs.count()
        seen["woken_early"] = list(enqueued)

    use_stage("segmentation", segmentation)
    with django_capture_on_commit_callbacks(execute=True):
        deal_process(deal_id=a.id)

    assert seen == {"retry_in": None, "survivor_runs": 0, "woken_early": []}
    a.refresh_from_db()
    # A stopped at the boundary after its stage; its runs are kept; it woke the survivor.
    assert (a.status, a.current_stage, a.hubspot_state) == ("pending", "categorization", "merged")
    assert a.pipeline_runs.filter(status="succeeded").count() == 2
    assert enqueued == [str(survivor.id)]
    # Now the survivor runs, alone; a queued job for A does nothing.
    assert deal_process(deal_id=a.id) is None and a.pipeline_runs.count() == 2
    assert deal_process(deal_id=survivor.id) is None
    survivor.refresh_from_db()
    assert survivor.status == "done"


def test_a_merged_away_deal_whose_worker_died_waits_pending_and_is_not_swept(
    enqueued, django_capture_on_commit_callbacks
):
    survivor = DealFactory.create(hubspot_deal_id="77000000001")
    a = DealFactory.create(status="running", current_stage="appraisal")
    deals_merge(
        survivor_hubspot_id=survivor.hubspot_deal_id,
        merged_hubspot_ids=[a.hubspot_deal_id],
        at=timezone.now(),
    )

    with django_capture_on_commit_callbacks(execute=True):
        deal_process(deal_id=a.id)  # the sweeper's job for the abandoned deal
        Deal.objects.filter(id=a.id).update(enqueued_at=timezone.now() - timedelta(days=1))
        deals_sweep_stuck()

    a.refresh_from_db()
    assert (a.status, a.hubspot_state) == ("pending", "merged")
    assert enqueued == [str(survivor.id)]  # woken once; A itself never sent again
