"""The queue by HubSpot state: `?hubspot_state=` (active by default), the rows' state and
survivor, the ETag of each view, and the plans that serve each view at a few thousand deals."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import Deal
from deals.queue_selectors import QueueCursor
from deals.selectors import deals_inactive_matching
from deals.tests.factories import DealFactory, PipelineRunFactory
from deals.tests.queue_pages import deal_queue_page

pytestmark = pytest.mark.django_db

URL = "/api/queue/deals/"


@pytest.fixture
def three_states() -> dict[str, Deal]:
    """An active deal, one deleted in HubSpot, one merged into the active one."""
    at = timezone.now() - timedelta(hours=1)
    survivor = DealFactory.create(hubspot_deal_id="3100001", name="Survivor")
    return {
        "active": survivor,
        "archived": DealFactory.create(
            hubspot_deal_id="3100002", hubspot_state="archived", hubspot_state_at=at
        ),
        "merged": DealFactory.create(
            hubspot_deal_id="3100003",
            hubspot_state="merged",
            hubspot_state_at=at,
            merged_into=survivor,
        ),
    }


def _items(client, **params) -> dict[str, dict]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return {item["hubspot_deal_id"]: item for item in response.json()["items"]}


def test_it_lists_active_deals_only_by_default(staff_client, three_states):
    items = _items(staff_client)

    assert list(items) == ["3100001"]
    assert items["3100001"]["hubspot_state"] == "active"
    assert items["3100001"]["merged_into_hubspot_deal_id"] is None
    assert _items(staff_client, hubspot_state="") == items  # empty: the default too


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("active", {"3100001"}),
        ("archived", {"3100002"}),
        ("merged", {"3100003"}),
        ("all", {"3100001", "3100002", "3100003"}),
    ],
)
def test_it_filters_by_each_hubspot_state(staff_client, three_states, value, expected):
    assert set(_items(staff_client, hubspot_state=value)) == expected


def test_it_gives_each_row_its_state_and_a_merged_ones_survivor(staff_client, three_states):
    items = _items(staff_client, hubspot_state="all")

    assert {key: item["hubspot_state"] for key, item in items.items()} == {
        "3100001": "active",
        "3100002": "archived",
        "3100003": "merged",
    }
    assert {key: item["merged_into_hubspot_deal_id"] for key, item in items.items()} == {
        "3100001": None,
        "3100002": None,
        "3100003": "3100001",
    }


@pytest.mark.parametrize("value", ["deleted", "ACTIVE", "inactive", "active,merged"])
def test_an_unknown_hubspot_state_answers_400_naming_it(staff_client, value):
    response = staff_client.get(URL, {"hubspot_state": value})

    assert response.status_code == 400
    assert list(response.json()) == ["hubspot_state"]


def test_the_filters_combine_with_the_hubspot_state(staff_client, three_states):
    DealFactory.create(
        hubspot_deal_id="3100004", status="failed", hubspot_state="archived", name="Acme"
    )

    assert set(_items(staff_client, hubspot_state="archived", status="failed")) == {"3100004"}
    assert set(_items(staff_client, hubspot_state="all", q="acme")) == {"3100004"}
    assert set(_items(staff_client, q="acme")) == set()  # archived: not in the default view


@pytest.mark.parametrize("view", ["merged", "all"])
def test_a_page_of_merged_deals_still_costs_exactly_two_queries(
    api, django_assert_num_queries, view
):
    survivors = DealFactory.create_batch(3)
    for n in range(30):
        deal = DealFactory.create(hubspot_state="merged", merged_into=survivors[n % 3])
        PipelineRunFactory.create(deal=deal)

    with django_assert_num_queries(2):
        response = api.get(URL, {"hubspot_state": view, "limit": 50})

    items = response.json()["items"]
    assert len(items) == (30 if view == "merged" else 33)
    merged = [item for item in items if item["hubspot_state"] == "merged"]
    into = {item["merged_into_hubspot_deal_id"] for item in merged}
    assert into == {s.hubspot_deal_id for s in survivors}


def test_a_deal_archived_leaves_the_active_page_and_joins_the_archived_one(api):
    deal = DealFactory.create()
    DealFactory.create()
    etags = {view: api.get(URL, {"hubspot_state": view})["ETag"] for view in ("active", "archived")}

    Deal.objects.filter(id=deal.id).update(hubspot_state="archived", updated_at=timezone.now())

    for view, etag in etags.items():
        again = api.get(URL, {"hubspot_state": view}, headers={"If-None-Match": etag})
        assert again.status_code == 200, view
        assert again["ETag"] != etag


def test_each_view_has_its_own_etag_even_with_the_same_rows(api):
    DealFactory.create()  # active: the same one row in "active" and in "all"
    active = api.get(URL)
    every = api.get(URL, {"hubspot_state": "all"})

    assert active.json() == every.json()
    assert active["ETag"] != every["ETag"]
    revalidated = api.get(URL, {"hubspot_state": "all"}, headers={"If-None-Match": active["ETag"]})
    assert revalidated.status_code == 200
    assert api.get(URL, headers={"If-None-Match": active["ETag"]}).status_code == 304


# ------------------------------------------------------------------------------ the plans
def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _page_sql(**filters) -> str:
    with CaptureQueriesContext(connection) as queries:
        deal_queue_page(limit=50, **filters)
    return queries[0]["sql"]


@pytest.fixture
def five_thousand_deals():
    """5,000 deals in a queue's shape, with statistics: 1 in 100 archived and 1 in 200
    merged, spread over the statuses and stages. Committed (the test is transactional):
    ANALYZE's estimates outlive a rollback and would steer later tests' plans."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO deals (id, hubspot_deal_id, name, amount, status, current_stage,
                               hubspot_state, created_at, updated_at)
            SELECT gen_random_uuid(), (5000000 + g)::text, 'Deal ' || g, 100,
                   (ARRAY['pending', 'running', 'done', 'failed'])[1 + g % 4],
                   (ARRAY['intake', 'segmentation', 'categorization', 'appraisal', 'review',
                          'done'])[1 + g % 6],
                   CASE WHEN g % 100 = 0 THEN 'archived' WHEN g % 200 = 1 THEN 'merged'
                        ELSE 'active' END,
                   now(), now() - g * interval '1 second'
            FROM generate_series(1, 5000) AS g
            """
        )
        cursor.execute("ANALYZE deals")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("five_thousand_deals")
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "deals_updated_id_desc"),
        ({"status": "failed"}, "deals_status_updated_id"),
        ({"stage": "appraisal"}, "deals_stage_updated_id"),
        ({"hubspot_state": "archived"}, "deals_inactive_updated_id"),
        ({"hubspot_state": "merged"}, "deals_inactive_updated_id"),
        ({"hubspot_state": "all"}, "deals_updated_id_desc"),
    ],
)
def test_each_view_walks_an_index_from_the_cursor_at_five_thousand_deals(filters, index):
    before = QueueCursor(updated_at=timezone.now() - timedelta(minutes=10), id=uuid.uuid4())

    plan = _plan(_page_sql(before=before, **filters))

    assert index in plan, plan
    assert "ROW(updated_at, id) < ROW(" in plan.split("Index Cond:")[1], plan
    assert "Seq Scan" not in plan, plan
    if filters.get("hubspot_state") in ("archived", "merged"):
        return  # the few inactive deals: the planner may as well sort the ones it finds
    # The default view (active) keeps the queue's own indexes, walked in order: the few
    # other deals are dropped as the walk meets them ("Filter"), never sorted.
    assert f"Index Scan using {index}" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("five_thousand_deals")
def test_the_inactive_deals_a_bulk_filter_skips_are_counted_by_their_index():
    with CaptureQueriesContext(connection) as queries:
        counted = deals_inactive_matching(status="", stage="review", q="", hubspot_state="all")

    at_review = Deal.objects.filter(current_stage="review")
    assert counted == {
        "archived": at_review.filter(hubspot_state="archived").count(),
        "merged": at_review.filter(hubspot_state="merged").count(),
    }
    assert counted["archived"] > 0
    plan = _plan(queries[0]["sql"])
    assert "deals_inactive_updated_id" in plan, plan
    assert "Seq Scan" not in plan, plan
