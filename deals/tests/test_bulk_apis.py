"""Bulk actions by filter (POST /api/queue/actions/) and the admin's selections: which deals
start again, their passes, the limit, and how the operator lane is fed, page by page."""

import pytest

from deals.models import Deal, PipelinePass
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db

URL = "/api/queue/actions/"
NONE_SKIPPED = {"archived": 0, "merged": 0}


@pytest.fixture
def sent(enqueued):
    """Deal ids sent to the broker (the feeding of the lane runs inline)."""
    return enqueued


@pytest.fixture
def _post(django_capture_on_commit_callbacks):
    """POST a bulk action; what it sends at commit is sent before this returns."""

    def post(client, **body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, body, content_type="application/json")

    return post


def test_retry_all_failed_takes_the_failed_deals_the_filters_select(staff_client, sent, _post):
    at_intake = DealFactory.create_batch(3, status="failed", current_stage="intake")
    DealFactory.create(status="failed", current_stage="appraisal")  # another stage
    DealFactory.create(status="done", current_stage="done")

    response = _post(staff_client, action="retry", stage="intake")

    assert (response.status_code, response.json()) == (202, {"count": 3, "skipped": NONE_SKIPPED})
    restarted = Deal.objects.filter(id__in=[d.id for d in at_intake])
    assert set(restarted.values_list("status", "current_stage")) == {("pending", "intake")}
    passes = PipelinePass.objects.filter(deal__in=at_intake, bulk_id__isnull=False)
    assert {(p.trigger, p.requested_by, p.from_stage) for p in passes} == {
        ("bulk_retry", "operator", "intake")
    }
    assert len({p.bulk_id for p in passes}) == 1
    assert {d.current_pass_id for d in restarted} == {p.id for p in passes}
    assert sorted(sent) == sorted(str(d.id) for d in at_intake)
    assert set(sent.lanes.values()) == {"operator"}
    assert_deal_counts_exact()


def test_rerun_all_takes_every_matching_deal_but_the_running_ones(staff_client, sent, _post):
    acme = [
        DealFactory.create(name="Acme one", status="done", current_stage="done"),
        DealFactory.create(name="Acme two", status="failed", current_stage="appraisal"),
        DealFactory.create(name="ACME three", status="pending", current_stage="review"),
    ]
    busy = DealFactory.create(name="Acme busy", status="running", current_stage="review")
    DealFactory.create(name="Globex", status="done", current_stage="done")

    response = _post(staff_client, action="rerun", q="acme")

    assert response.json() == {"count": 3, "skipped": NONE_SKIPPED}
    assert set(
        Deal.objects.filter(id__in=[d.id for d in acme]).values_list("status", "current_stage")
    ) == {("pending", "intake")}
    assert Deal.objects.get(id=busy.id).status == "running"
    assert PipelinePass.objects.filter(trigger="bulk_rerun").count() == 3
    assert sorted(sent) == sorted(str(d.id) for d in acme)
    assert_deal_counts_exact()


def test_a_filter_matching_nothing_starts_nothing(staff_client, sent, _post):
    DealFactory.create(status="done", current_stage="done")

    response = _post(staff_client, action="retry", status="done")

    assert (response.status_code, response.json()) == (202, {"count": 0, "skipped": NONE_SKIPPED})
    assert not PipelinePass.objects.filter(bulk_id__isnull=False).exists()
    assert sent == []
    assert_deal_counts_exact()


# Ten thousand rows rolled back would leave the deals table bloated for the tests after
# (their query plans change): these two commit, and the table is truncated after them.
BIG = pytest.mark.django_db(transaction=True)


@BIG
def test_more_than_ten_thousand_deals_are_refused_naming_the_limit(staff_client, sent, _post):
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=str(70_000_000 + n), status="failed") for n in range(10_001)
    )

    response = _post(staff_client, action="retry", status="failed")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "More than 10,000 deals match; a bulk action takes at most 10,000 at a time. "
        "Narrow the filters and try again."
    )
    assert Deal.objects.filter(status="failed").count() == 10_001  # nothing half-done
    assert sent == []


@BIG
def test_ten_thousand_deals_start_in_batches_each_its_own_statement(
    staff_client, sent, django_assert_max_num_queries, settings, _post
):
    settings.PIPELINE_OPERATOR_PAGE_SIZE = 2_000
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=str(80_000_000 + n), status="failed") for n in range(10_000)
    )

    # Auth, the selection, ten batches of 1,000 and the five pages the lane is fed with.
    with django_assert_max_num_queries(20):
        response = _post(staff_client, action="retry", status="failed")

    assert response.json() == {"count": 10_000, "skipped": NONE_SKIPPED}
    assert Deal.objects.filter(status="pending").count() == 10_000
    assert len(set(sent)) == 10_000
    assert_deal_counts_exact()


def test_a_bulk_action_needs_a_filter_and_a_known_action(staff_client, sent, _post):
    DealFactory.create(status="failed")

    no_filter = _post(staff_client, action="rerun")
    unknown = _post(staff_client, action="delete", status="failed")

    assert no_filter.status_code == 400
    assert no_filter.json()["detail"].startswith("Choose a status, a stage or a search first")
    assert unknown.status_code == 400
    assert list(unknown.json()) == ["action"]
    assert Deal.objects.get().status == "failed"


def test_the_preview_counts_what_each_action_would_take(staff_client):
    DealFactory.create_batch(2, status="failed", current_stage="intake")
    DealFactory.create(status="done", current_stage="done")
    DealFactory.create(status="running", current_stage="intake")

    by_stage = staff_client.get(URL, {"stage": "intake"}).json()
    by_status = staff_client.get(URL, {"status": "done"}).json()

    assert by_stage == {"retry": 2, "rerun": 2, "limit": 10_000}
    assert by_status == {"retry": 0, "rerun": 1, "limit": 10_000}


def test_the_preview_stops_counting_past_the_limit(staff_client, monkeypatch):
    monkeypatch.setattr("deals.bulk_apis.BULK_LIMIT", 3)
    DealFactory.create_batch(5, status="failed")

    assert staff_client.get(URL, {"status": "failed"}).json() == {
        "retry": 4,
        "rerun": 4,
        "limit": 3,
    }


# ------------------------------------------------------------------------------ HubSpot states
@pytest.mark.parametrize(
    ("view", "count", "skipped"),
    [
        ({}, 1, NONE_SKIPPED),  # the default view: active deals only, none to skip
        ({"hubspot_state": "all"}, 1, {"archived": 1, "merged": 1}),
        ({"hubspot_state": "archived"}, 0, {"archived": 1, "merged": 0}),
    ],
)
def test_a_bulk_action_starts_active_deals_only_and_counts_the_others_it_skips(
    staff_client, sent, _post, failed_in_three_states, view, count, skipped
):
    response = _post(staff_client, action="retry", status="failed", **view)

    assert (response.status_code, response.json()) == (202, {"count": count, "skipped": skipped})
    states = dict(
        Deal.objects.filter(id__in=[d.id for d in failed_in_three_states.values()]).values_list(
            "hubspot_state", "status"
        )
    )
    assert states == {
        "active": "pending" if count else "failed",
        "archived": "failed",  # left alone, whatever the view
        "merged": "failed",
    }
    assert len(sent) == count
    assert_deal_counts_exact()


def test_the_preview_counts_active_deals_only(staff_client, failed_in_three_states):
    every = staff_client.get(URL, {"status": "failed", "hubspot_state": "all"}).json()
    archived = staff_client.get(URL, {"status": "failed", "hubspot_state": "archived"}).json()

    assert (every["retry"], every["rerun"]) == (1, 1)
    assert (archived["retry"], archived["rerun"]) == (0, 0)


def test_a_bulk_action_with_an_unknown_hubspot_state_answers_400_naming_it(staff_client, _post):
    response = _post(staff_client, action="retry", status="failed", hubspot_state="gone")

    assert response.status_code == 400
    assert list(response.json()) == ["hubspot_state"]
