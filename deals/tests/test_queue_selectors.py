import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import STAGE_ORDER, Deal
from deals.queue_selectors import QueueCursor
from deals.selectors import deal_counts
from deals.tests.factories import DealFactory, PipelineRunFactory
from deals.tests.queue_pages import deal_queue_page

pytestmark = pytest.mark.django_db


def _bulk_deals(count: int, *, updated_at=None, prefix: str = "7") -> list[Deal]:
    """`count` deals in one INSERT; with `updated_at`, all of them share it (a bulk upsert)."""
    deals = Deal.objects.bulk_create(
        Deal(hubspot_deal_id=f"{prefix}{n:09d}", name=f"Bulk {prefix}-{n}") for n in range(count)
    )
    if updated_at is not None:
        # QuerySet.update() skips auto_now, so this is exactly the timestamp they all get.
        Deal.objects.filter(id__in=[d.id for d in deals]).update(updated_at=updated_at)
    return deals


def _walk(*, limit: int, **filters) -> list[uuid.UUID]:
    seen, before = [], None
    while True:
        page = deal_queue_page(limit=limit, before=before, **filters)
        seen += [deal.id for deal in page.deals]
        if page.next_before is None:
            return seen
        # Through its string form, as a client passes it back.
        before = QueueCursor.decode(page.next_before.encode())


def test_it_never_skips_or_repeats_a_deal_across_pages_when_500_share_one_updated_at():
    tied_at = timezone.now() - timedelta(hours=1)
    tied = _bulk_deals(500, updated_at=tied_at, prefix="1")
    newer = _bulk_deals(3, updated_at=tied_at + timedelta(microseconds=1), prefix="2")
    older = _bulk_deals(3, updated_at=tied_at - timedelta(microseconds=1), prefix="3")

    seen = _walk(limit=7)

    assert len(seen) == len(set(seen)) == 506  # nothing repeated
    assert set(seen) == {d.id for d in tied + newer + older}  # nothing skipped
    assert set(seen[:3]) == {d.id for d in newer}
    assert set(seen[-3:]) == {d.id for d in older}


def test_pages_are_newest_updated_first_with_the_id_breaking_ties():
    now = timezone.now()
    deals = _bulk_deals(4, updated_at=now)
    late = DealFactory.create()  # auto_now: updated after the others

    ids = [deal.id for deal in deal_queue_page(limit=10).deals]

    assert ids == [late.id, *sorted((d.id for d in deals), reverse=True)]


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_a_page_costs_exactly_two_queries_whatever_its_size(django_assert_num_queries, limit):
    _bulk_deals(205)
    busy = DealFactory.create()
    for attempt in range(1, 41):  # a deal re-run many times still costs no extra query
        PipelineRunFactory.create(deal=busy, stage=STAGE_ORDER[attempt % 6], attempt=attempt)

    with django_assert_num_queries(2):
        page = deal_queue_page(limit=limit)

    assert len(page.deals) == limit
    assert page.deals[0].id == busy.id


def test_the_keyset_condition_is_a_range_on_the_updated_id_index():
    DealFactory.create_batch(3)
    before = QueueCursor(updated_at=timezone.now(), id=uuid.uuid4())
    with CaptureQueriesContext(connection) as queries:
        deal_queue_page(limit=50, before=before)

    with connection.cursor() as cursor:
        # Three rows would be read whole; ask whether the index *can* serve the query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using deals_updated_id_desc" in plan, plan
    assert "Index Cond: (ROW(updated_at, id) < ROW(" in plan, plan
    assert "Sort" not in plan, plan


def test_each_step_is_its_stages_latest_run_by_started_at_and_a_stage_never_run_is_pending():
    t0 = timezone.now() - timedelta(minutes=10)
    deal = DealFactory.create(status="running", current_stage="segmentation")
    # The later attempt is inserted first: "latest" is by started_at, not by insertion.
    retried = PipelineRunFactory.create(
        deal=deal, stage="intake", attempt=2, started_at=t0 + timedelta(seconds=2)
    )
    PipelineRunFactory.create(
        deal=deal, stage="intake", attempt=1, status="failed", error="flaky", started_at=t0
    )
    running = PipelineRunFactory.create(
        deal=deal,
        stage="segmentation",
        attempt=1,
        status="running",
        started_at=t0 + timedelta(seconds=4),
        ended_at=None,
    )

    [item] = deal_queue_page(limit=10).deals

    assert [(s["stage"], s["status"], s["pipeline_run_id"]) for s in item.steps] == [
        ("intake", "succeeded", retried.id),
        ("segmentation", "running", running.id),
        ("categorization", "pending", None),
        ("appraisal", "pending", None),
    ]
    assert item.steps[1]["started_at"] == running.started_at  # a datetime, until written
    assert item.steps[1]["ended_at"] is None
    assert [s["error"] for s in item.steps] == [None] * 4  # the failed attempt is history


def test_a_failed_step_carries_its_error_in_full():
    deal = DealFactory.create(status="failed", current_stage="appraisal")
    for attempt, stage in enumerate(STAGE_ORDER[:3], start=1):
        PipelineRunFactory.create(deal=deal, stage=stage, attempt=attempt)
    error = "appraisal service said no\n" + "x" * 5000
    PipelineRunFactory.create(deal=deal, stage="appraisal", attempt=4, status="failed", error=error)

    [item] = deal_queue_page(limit=10).deals

    assert [s["status"] for s in item.steps] == ["succeeded"] * 3 + ["failed"]
    assert item.steps[3]["error"] == error


def test_review_and_done_never_appear_in_steps_though_current_stage_may_be_done():
    deal = DealFactory.create(status="done", current_stage="done")
    t0 = timezone.now() - timedelta(minutes=5)
    for n, stage in enumerate(STAGE_ORDER):
        PipelineRunFactory.create(deal=deal, stage=stage, started_at=t0 + timedelta(seconds=n))

    [item] = deal_queue_page(limit=10).deals

    assert [s["stage"] for s in item.steps] == [
        "intake",
        "segmentation",
        "categorization",
        "appraisal",
    ]
    assert item.current_stage == "done"


def test_duration_runs_from_the_first_start_to_the_last_end_or_to_now_while_running():
    t0 = timezone.now() - timedelta(minutes=30)
    closed = DealFactory.create(status="done", current_stage="done")
    PipelineRunFactory.create(deal=closed, stage="intake", started_at=t0, ended_at=t0)
    PipelineRunFactory.create(
        deal=closed,
        stage="done",  # not a step, but the deal's last run: the duration ends with it
        started_at=t0 + timedelta(seconds=80),
        ended_at=t0 + timedelta(seconds=90),
    )
    running = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(deal=running, stage="intake", started_at=t0, ended_at=t0)
    PipelineRunFactory.create(
        deal=running,
        stage="segmentation",
        status="running",
        started_at=t0 + timedelta(seconds=5),
        ended_at=None,
    )
    fresh = DealFactory.create()

    items = {deal.id: deal for deal in deal_queue_page(limit=10).deals}
    later = t0 + timedelta(seconds=75)

    assert items[closed.id].duration_ms(now=later) == 90_000
    assert not items[closed.id].is_open
    assert items[running.id].duration_ms(now=later) == 75_000
    assert items[running.id].is_open
    assert items[fresh.id].duration_ms(now=later) is None


def test_status_stage_and_search_filters_apply_together():
    target = DealFactory.create(
        hubspot_deal_id="5550001", name="Acme Roof", status="failed", current_stage="appraisal"
    )
    DealFactory.create(
        hubspot_deal_id="5550002", name="Acme Roof", status="done", current_stage="done"
    )
    DealFactory.create(
        hubspot_deal_id="5550003", name="Other", status="failed", current_stage="appraisal"
    )
    DealFactory.create(
        hubspot_deal_id="1555000", name="Zed", status="failed", current_stage="intake"
    )

    def ids(**filters) -> set:
        return {deal.hubspot_deal_id for deal in deal_queue_page(limit=50, **filters).deals}

    assert ids(status="failed", stage="appraisal", q="acme") == {target.hubspot_deal_id}
    assert ids(q="555") == {"5550001", "5550002", "5550003"}  # a prefix, not "contains"
    assert ids(q="ROOF") == {"5550001", "5550002"}  # the name, in any case
    assert ids(q="%") == set()  # taken literally, not as a LIKE wildcard
    assert ids(stage="intake") == {"1555000"}


def test_a_plain_timestamp_returns_the_deals_updated_strictly_before_it():
    at = timezone.now() - timedelta(hours=2)
    older = _bulk_deals(2, updated_at=at - timedelta(seconds=1), prefix="4")
    _bulk_deals(2, updated_at=at, prefix="5")

    page = deal_queue_page(limit=10, before=QueueCursor.decode(at.isoformat()))

    assert {deal.id for deal in page.deals} == {deal.id for deal in older}
    assert page.next_before is None


def test_a_cursor_survives_its_string_form():
    cursor = QueueCursor(updated_at=timezone.now(), id=uuid.uuid4())
    assert QueueCursor.decode(cursor.encode()) == cursor
    assert cursor.encode().endswith(f"Z|{cursor.id}")


@pytest.mark.parametrize(
    "value", ["yesterday", "", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00Z|nope"]
)
def test_a_cursor_that_is_neither_a_cursor_nor_a_timestamp_is_refused(value):
    with pytest.raises(ValueError):
        QueueCursor.decode(value)


def test_status_counts_cover_every_status_in_one_query(django_assert_num_queries):
    DealFactory.create_batch(2, status="failed")
    DealFactory.create(status="running")

    with django_assert_num_queries(1):
        counts = deal_counts()

    assert counts.by_status == {"pending": 0, "running": 1, "done": 0, "failed": 2}
    assert counts.total == 3


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"status": "failed"}, "deals_status_updated_id"),
        ({"stage": "intake"}, "deals_stage_updated_id"),
    ],
)
def test_a_status_or_stage_filter_walks_its_own_index_from_the_cursor(filters, index):
    DealFactory.create_batch(3, status="failed")
    before = QueueCursor(updated_at=timezone.now(), id=uuid.uuid4())
    with CaptureQueriesContext(connection) as queries:
        deal_queue_page(limit=50, before=before, **filters)

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # A rare status is found at once, not by walking every deal in the queue's order.
    assert f"Index Scan using {index}" in plan, plan
    assert "ROW(updated_at, id) < ROW(" in plan.split("Index Cond:")[1], plan
    assert "Sort" not in plan, plan
