from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.services import DealFromHubspot, deals_upsert_from_hubspot
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def _incoming(hubspot_deal_id: str = "4001", **changes) -> DealFromHubspot:
    fields = {
        "hubspot_deal_id": hubspot_deal_id,
        "name": "Harbour View",
        "amount": Decimal("1200.00"),
        "deal_stage": "appointmentscheduled",
        "hubspot_created_at": timezone.now() - timedelta(days=2),
        "hubspot_checked_in_at": timezone.now() - timedelta(hours=1),
        **changes,
    }
    return DealFromHubspot(**fields)


def test_new_deals_are_created_pending_and_enqueued_after_commit(
    django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = deals_upsert_from_hubspot(
            deals=[_incoming("4001"), _incoming("4002")], now=timezone.now(), source="test"
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
    deal = DealFactory(status="done", current_stage="done")
    incoming = _incoming(
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
    deal = DealFactory(status="done", current_stage="done")
    later = timezone.now() + timedelta(seconds=5)

    result = deals_upsert_from_hubspot(
        deals=[_incoming(deal.hubspot_deal_id, name="Renamed")], now=later, source="test"
    )

    deal.refresh_from_db()
    assert (result.updated, deal.name, deal.updated_at) == (1, "Renamed", later)
    assert (deal.status, deal.current_stage) == ("done", "done")


def test_a_deal_our_columns_cannot_hold_is_set_aside_and_the_rest_written(enqueued):
    result = deals_upsert_from_hubspot(
        deals=[_incoming("5001", amount=Decimal("1e20")), _incoming("5002")],
        now=timezone.now(),
        source="test",
    )

    assert [r.hubspot_deal_id for r in result.rejected] == ["5001"]
    assert "does not fit numeric(18, 2)" in result.rejected[0].reason
    assert list(Deal.objects.values_list("hubspot_deal_id", flat=True)) == ["5002"]


def test_nul_characters_are_dropped_from_texts(enqueued):
    deals_upsert_from_hubspot(
        deals=[_incoming("6001", name="Nul\x00Deal")], now=timezone.now(), source="test"
    )

    assert Deal.objects.get(hubspot_deal_id="6001").name == "NulDeal"
