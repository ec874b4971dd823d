"""One copy of the action rules: the API's rows and detail show them, the services refuse
with the same reason."""

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.rules import deal_actions
from deals.services import deal_rerun, deal_retry
from deals.tests.factories import DealFactory
from vcc.errors import Conflict

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "rerun", "retry"),
    [
        ("pending", True, False),
        ("running", False, False),
        ("done", True, False),
        ("failed", True, True),
    ],
)
def test_an_active_deal_allows_what_its_status_allows(status, rerun, retry):
    actions = deal_actions(status=status, current_stage="appraisal", hubspot_state="active")

    assert (actions["rerun"]["allowed"], actions["retry"]["allowed"]) == (rerun, retry)
    assert all(state["reason"] for state in actions.values())


def test_a_deal_hubspot_let_go_allows_nothing_and_says_where_it_went():
    merged = deal_actions(
        status="failed", current_stage="intake", hubspot_state="merged", merged_into="77"
    )
    archived = deal_actions(status="failed", current_stage="intake", hubspot_state="archived")

    assert not any(state["allowed"] for state in [*merged.values(), *archived.values()])
    assert "merged into 77" in merged["retry"]["reason"]
    assert "deleted in HubSpot" in archived["rerun"]["reason"]


def test_an_allowed_retry_says_where_the_deal_resumes():
    actions = deal_actions(status="failed", current_stage="appraisal", hubspot_state="active")

    assert actions["retry"]["reason"] == "Resume at appraisal, ahead of the backlog."


@pytest.mark.parametrize("status", ["pending", "done", "running"])
def test_the_service_refuses_a_retry_with_the_reason_the_api_shows(status, api):
    deal = DealFactory.create(status=status)
    shown = api.get(f"/api/deals/{deal.id}/").json()["actions"]["retry"]

    with pytest.raises(Conflict) as refused:
        deal_retry(deal_id=deal.id, requested_by="op")

    assert shown["allowed"] is False
    assert refused.value.message == shown["reason"]


@pytest.mark.parametrize("hubspot_state", ["active", "archived", "merged"])
def test_a_queue_row_carries_the_same_actions_as_the_deal(api, hubspot_state):
    survivor = DealFactory.create(hubspot_deal_id="99") if hubspot_state == "merged" else None
    deal = DealFactory.create(
        status="failed",
        current_stage="categorization",
        hubspot_state=hubspot_state,
        hubspot_state_at=timezone.now() if survivor or hubspot_state == "archived" else None,
        merged_into=survivor,
    )

    rows = api.get("/api/queue/deals/", {"hubspot_state": "all"}).json()["items"]
    row = next(row for row in rows if row["id"] == str(deal.id))
    detail = api.get(f"/api/deals/{deal.id}/").json()

    assert row["actions"] == detail["actions"]
    assert row["actions"]["retry"]["allowed"] is (hubspot_state == "active")


def test_a_rerun_refused_for_a_merged_deal_names_the_survivor():
    survivor = DealFactory.create(hubspot_deal_id="88")
    deal = DealFactory.create(
        status="done", hubspot_state=Deal.HubspotState.MERGED, merged_into=survivor
    )

    with pytest.raises(Conflict, match="merged into 88 in HubSpot"):
        deal_rerun(deal_id=deal.id, requested_by="op")
