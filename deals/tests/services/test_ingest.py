from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.services import DealFromHubspot, deals_upsert_from_hubspot
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory, PipelinePassFactory, deal_from_hubspot

pytestmark = pytest.mark.django_db


def test_new_deals_are_created_pending_and_enqueued_after_commit(
    django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = deals_upsert_from_hubspot(
            deals=[deal_from_hubspot("4001"), deal_from_hubspot("4002")],
            now=timezone.now(),
            source="test",
        )
        assert enqueued == []  # nothing sent before the commit

    for callback in callbacks:
        callback()
    deals = Deal.objects.order_by("hubspot_deal_id")
    assert [(d.hubspot_deal_id, d.status, d.current_stage) for d in deals] == [
        ("4001", "pending", "intake"),
        ("4002", "pending", "intake"),
    ]
    assert sorted(enqueued) == sorted(str(deal_id) for deal_id, _ in result.created)
    assert (result.updated, result.unchanged) == (0, 0)


def test_an_unchanged_deal_is_left_alone(enqueued):
    deal = DealFactory.create(status="done", current_stage="done")
    incoming = deal_from_hubspot(
        deal.hubspot_deal_id,
        name=deal.name,
        amount=deal.amount,
        deal_stage=deal.deal_stage,
        hubspot_created_at=deal.hubspot_created_at,
        hubspot_checked_in_at=deal.hubspot_checked_in_at,
    )

    result = deals_upsert_from_hubspot(deals=[incoming], now=timezone.now(), source="test")

    assert (result.created, result.updated, result.unchanged) == ([], 0, 1)
    assert Deal.objects.get(id=deal.id).updated_at == deal.updated_at


def test_a_change_updates_hubspot_fields_and_never_the_pipeline_state(enqueued):
    deal = DealFactory.create(status="done", current_stage="done")
    later = timezone.now() + timedelta(seconds=5)

    result = deals_upsert_from_hubspot(
        deals=[deal_from_hubspot(deal.hubspot_deal_id, name="Renamed")], now=later, source="test"
    )

    deal.refresh_from_db()
    assert (result.updated, deal.name, deal.updated_at) == (1, "Renamed", later)
    assert (deal.status, deal.current_stage) == ("done", "done")


def test_a_deal_our_columns_cannot_hold_is_set_aside_and_the_rest_written(enqueued):
    result = deals_upsert_from_hubspot(
        deals=[deal_from_hubspot("5001", amount=Decimal("1e20")), deal_from_hubspot("5002")],
        now=timezone.now(),
        source="test",
    )

    assert [r.hubspot_deal_id for r in result.rejected] == ["5001"]
    assert "does not fit numeric(18, 2)" in result.rejected[0].reason
    assert list(Deal.objects.values_list("hubspot_deal_id", flat=True)) == ["5002"]


def test_nul_characters_are_dropped_from_texts(enqueued):
    deals_upsert_from_hubspot(
        deals=[deal_from_hubspot("6001", name="Nul\x00Deal")], now=timezone.now(), source="test"
    )

    assert Deal.objects.get(hubspot_deal_id="6001").name == "NulDeal"


# ------------------------------------------------------------------------------ passes
def _upsert(*deals: DealFromHubspot, now=None):
    return deals_upsert_from_hubspot(deals=list(deals), now=now or timezone.now(), source="test")


def test_a_new_deal_starts_its_first_pass_as_new_from_hubspot(enqueued):
    now = timezone.now()
    _upsert(deal_from_hubspot("7001"), now=now)

    deal = Deal.objects.get(hubspot_deal_id="7001")
    assert [(p.trigger, p.requested_by, p.from_stage, p.started_at) for p in deal.passes.all()] == [
        ("new", "", "intake", now)
    ]
    assert deal.current_pass is not None
    assert deal.current_pass.trigger == "new"


def test_a_fix_in_hubspot_sends_a_failed_deal_round_again_from_the_failed_stage(
    enqueued, django_capture_on_commit_callbacks
):
    first = PipelinePassFactory.create(deal__status="failed", deal__current_stage="appraisal")
    deal = first.deal
    later = timezone.now() + timedelta(seconds=5)

    with django_capture_on_commit_callbacks(execute=True):
        result = _upsert(
            deal_from_hubspot(deal.hubspot_deal_id, name="Fixed in HubSpot"), now=later
        )

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage, deal.name) == (
        "pending",
        "appraisal",
        "Fixed in HubSpot",
    )
    assert deal.current_pass_id != first.id
    assert deal.current_pass is not None
    assert (deal.current_pass.trigger, deal.current_pass.from_stage) == (
        "hubspot_change",
        "appraisal",
    )
    assert deal.current_pass.get_trigger_display() == "HubSpot change"
    assert (result.updated, result.restarted) == (1, [(deal.id, deal.hubspot_deal_id)])
    assert enqueued.lanes == {str(deal.id): "celery"}  # the backlog: nobody clicked
    assert_deal_counts_exact()


def test_an_unchanged_repoll_of_a_failed_deal_starts_nothing(
    enqueued, django_capture_on_commit_callbacks
):
    deal = PipelinePassFactory.create(deal__status="failed", deal__current_stage="intake").deal
    same = deal_from_hubspot(
        deal.hubspot_deal_id,
        name=deal.name,
        amount=deal.amount,
        deal_stage=deal.deal_stage,
        hubspot_created_at=deal.hubspot_created_at,
        hubspot_checked_in_at=deal.hubspot_checked_in_at,
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = _upsert(same)

    assert (result.unchanged, result.restarted) == (1, [])
    assert Deal.objects.get(id=deal.id).status == "failed"
    assert deal.passes.count() == 1
    assert enqueued == []


@pytest.mark.parametrize(("rerun_done", "expected"), [(False, "done"), (True, "pending")])
def test_a_change_to_a_done_deal_reruns_it_only_when_configured(
    settings, enqueued, rerun_done, expected
):
    settings.PIPELINE_RERUN_DONE_ON_CHANGE = rerun_done
    deal = PipelinePassFactory.create(deal__status="done", deal__current_stage="done").deal

    result = _upsert(deal_from_hubspot(deal.hubspot_deal_id, amount=Decimal("99.00")))

    deal.refresh_from_db()
    assert deal.status == expected
    assert deal.amount == Decimal("99.00")
    if rerun_done:
        assert deal.current_stage == "intake"
        assert [p.trigger for p in deal.passes.all()] == ["hubspot_change", "new"]
        assert len(result.restarted) == 1
    else:
        assert (deal.current_stage, deal.passes.count(), result.restarted) == ("done", 1, [])


@pytest.mark.parametrize("status", ["pending", "running"])
def test_a_change_to_a_deal_in_the_pipeline_keeps_its_pass_and_state(enqueued, status):
    first = PipelinePassFactory.create(deal__status=status, deal__current_stage="segmentation")

    result = _upsert(deal_from_hubspot(first.deal.hubspot_deal_id, name="Renamed"))

    deal = Deal.objects.get(id=first.deal_id)
    assert (deal.status, deal.current_stage, deal.current_pass_id) == (
        status,
        "segmentation",
        first.id,
    )
    assert (result.updated, result.restarted) == (1, [])


def test_one_batch_creates_updates_and_restarts_in_a_single_statement(
    enqueued, django_assert_num_queries
):
    failed = PipelinePassFactory.create(deal__status="failed").deal
    done = PipelinePassFactory.create(deal__status="done", deal__current_stage="done").deal

    with django_assert_num_queries(1):
        result = _upsert(
            deal_from_hubspot("8001"),
            deal_from_hubspot(failed.hubspot_deal_id, name="Fixed"),
            deal_from_hubspot(done.hubspot_deal_id, name="Renamed"),
        )

    assert (len(result.created), result.updated, len(result.restarted)) == (1, 2, 1)
