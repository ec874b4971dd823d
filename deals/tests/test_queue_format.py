"""The queue page on the wire: 304 decided on the first query, 200 the moment anything on
the page changes, exactly two queries for a 200, and DRF's browsable page for browsers."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.test import APIClient

from deals.models import Deal, PipelineRun
from deals.queue_apis import DealQueueViewSet, QueuePageSerializer
from deals.queue_format import queue_page_data
from deals.queue_selectors import deal_queue_page_from, deal_queue_select
from deals.services import (
    DealFromHubspot,
    deal_rerun,
    deal_retry,
    deals_upsert_from_hubspot,
)
from deals.services.runs import (
    WORKER_LOST,
    deal_close_lost_runs,
    pipeline_run_end,
    pipeline_run_start,
)
from deals.stages import stage_get
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db

URL = "/api/queue/deals/"


class Poller:
    """A client that polls as the page script does, sending back the last ETag."""

    etag: str | None

    def __init__(self, api: APIClient, **params) -> None:
        self.api, self.params, self.etag = api, params, None
        self.poll()

    def poll(self) -> int:
        headers: dict[str, str] = {"If-None-Match": self.etag} if self.etag else {}
        response = self.api.get(URL, self.params, headers=headers)
        assert response.status_code in (200, 304), response.content
        self.etag = response["ETag"]
        return response.status_code


def _incoming(deal: Deal, **changes) -> DealFromHubspot:
    fields = {
        "hubspot_deal_id": deal.hubspot_deal_id,
        "name": deal.name,
        "amount": deal.amount,
        "deal_stage": deal.deal_stage,
        "hubspot_created_at": deal.hubspot_created_at,
        "hubspot_checked_in_at": deal.hubspot_checked_in_at,
        **changes,
    }
    return DealFromHubspot(**fields)


def test_an_unchanged_poll_answers_304_after_the_first_query_alone(api, django_assert_num_queries):
    deal = DealFactory.create(status="done", current_stage="done")
    PipelineRunFactory.create(deal=deal)
    poller = Poller(api)

    with django_assert_num_queries(1) as queries:
        assert poller.poll() == 304

    assert "pipeline_runs" not in queries.captured_queries[0]["sql"]


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_a_changed_page_answers_200_with_exactly_two_queries(api, django_assert_num_queries, limit):
    Deal.objects.bulk_create(Deal(hubspot_deal_id=f"66{n}") for n in range(limit + 1))
    poller = Poller(api, limit=limit)
    deal = Deal.objects.order_by("-updated_at").first()
    assert deal is not None
    deal_rerun(deal_id=deal.id, requested_by="operator")

    with django_assert_num_queries(2):
        assert poller.poll() == 200


def test_pollers_of_one_changed_page_share_its_build_with_fresh_durations(
    api, django_user_model, django_assert_num_queries
):
    done = DealFactory.create(status="done", current_stage="done")
    PipelineRunFactory.create(deal=done)
    running = DealFactory.create(status="running", current_stage="intake")
    PipelineRunFactory.create(deal=running, status="running", ended_at=None)
    first = api.get(URL)

    with django_assert_num_queries(1):  # the same page for a second tab: no runs read
        second = api.get(URL)

    assert second["ETag"] == first["ETag"]
    [running_now, done_now], [running_then, done_then] = (
        r.json()["items"] for r in (second, first)
    )
    assert done_now == done_then
    assert running_now["duration_ms"] >= running_then["duration_ms"]  # to now, each time
    assert {**running_now, "duration_ms": 0} == {**running_then, "duration_ms": 0}


def test_with_reuse_off_every_answer_reads_its_page_again(api, settings, django_assert_num_queries):
    settings.QUEUE_PAGE_REUSE_SECONDS = 0
    PipelineRunFactory.create(deal=DealFactory.create(status="done", current_stage="done"))
    api.get(URL)

    with django_assert_num_queries(2):
        assert api.get(URL).status_code == 200


def test_every_change_on_the_page_answers_200_and_nothing_else_does(api, enqueued):
    deal = DealFactory.create(name="Acme")
    other = DealFactory.create()
    poller = Poller(api)

    def changed() -> bool:
        status = poller.poll()
        assert poller.poll() == 304, "an unchanged page right after must answer 304"
        return status == 200

    assert not changed()
    Deal.objects.filter(id=deal.id).update(status="running", updated_at=timezone.now())
    assert changed(), "a status"
    run = pipeline_run_start(deal=deal, stage=stage_get("intake"), now=timezone.now())
    assert changed(), "a new run"
    pipeline_run_end(
        deal=deal,
        run=run,
        now=timezone.now(),
        run_status="failed",
        deal_status="failed",
        error="missing amount",
    )
    assert changed(), "a run closed, the deal failed"
    deal_retry(deal_id=deal.id, requested_by="operator")
    assert changed(), "a retry"
    deals_upsert_from_hubspot(
        deals=[_incoming(other, name="Acme Renamed")], now=timezone.now(), source="test"
    )
    assert changed(), "a name changed in HubSpot"
    deals_upsert_from_hubspot(deals=[_incoming(other)], now=timezone.now(), source="test")
    assert changed(), "the name changed back"
    deals_upsert_from_hubspot(deals=[_incoming(other)], now=timezone.now(), source="test")
    assert not changed(), "an unchanged re-poll of HubSpot"
    DealFactory.create()
    assert changed(), "a new deal entering the first page"
    Deal.objects.filter(id=other.id).delete()
    assert changed(), "a deal gone"


def test_runs_a_dead_worker_left_open_change_the_page_when_closed(api):
    deal = DealFactory.create(status="running", current_stage="segmentation")
    run = PipelineRunFactory.create(
        deal=deal, stage="segmentation", status="running", ended_at=None
    )
    poller = Poller(api)

    assert deal_close_lost_runs(deal=deal) == 1

    assert poller.poll() == 200
    run.refresh_from_db()
    assert (run.status, run.error) == (PipelineRun.Status.FAILED, WORKER_LOST)


def test_a_next_page_appearing_below_changes_the_page(api):
    DealFactory.create_batch(2)
    poller = Poller(api, limit=2)
    older = DealFactory.create()
    Deal.objects.filter(id=older.id).update(updated_at=timezone.now() - timedelta(days=1))

    assert poller.poll() == 200  # the same two deals, now with a next_before


def test_a_filtered_page_ignores_changes_outside_its_filter(api):
    failed = DealFactory.create(status="failed", current_stage="intake", amount=None)
    done = DealFactory.create(status="done", current_stage="done", amount=Decimal("10.00"))
    poller = Poller(api, status="failed")

    deal_rerun(deal_id=done.id, requested_by="operator")
    assert poller.poll() == 304
    deal_rerun(deal_id=failed.id, requested_by="operator")
    assert poller.poll() == 200  # it left the filter


def test_browsers_get_the_browsable_page_with_its_own_etag(
    api, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(DealQueueViewSet, "renderer_classes", [JSONRenderer, BrowsableAPIRenderer])
    DealFactory.create(name="Harbour View")

    with django_assert_num_queries(2):
        html = api.get(URL, headers={"Accept": "text/html"})
    as_json = api.get(URL)

    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert "Harbour View" in html.content.decode()
    assert as_json["Content-Type"] == "application/json"
    assert as_json.json()["items"][0]["name"] == "Harbour View"
    assert html["ETag"] != as_json["ETag"]  # one representation's tag never 304s the other
    again = api.get(URL, headers={"Accept": "text/html", "If-None-Match": html["ETag"]})
    assert again.status_code == 304


def test_the_body_reads_as_the_documented_serializer_writes_it(api):
    # Timestamps with and without a fraction, a failed step whose error is not ASCII, an
    # open run (duration to now) and a deal never run: what orjson writes must read back
    # exactly as DRF's own fields would write the same page.
    whole_second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    failed = DealFactory.create(status="failed", current_stage="segmentation")
    PipelineRunFactory.create(deal=failed, stage="intake", started_at=whole_second)
    PipelineRunFactory.create(
        deal=failed, stage="segmentation", status="failed", error="naïve «quote»\n\u2028 ✓"
    )
    running = DealFactory.create(status="running", created_at=whole_second)
    PipelineRunFactory.create(deal=running, status="running", ended_at=None)
    DealFactory.create(name='Ünïcode "quoted" \\ name')

    for limit in (3, 2):  # every deal; then two of them, with a next_before
        got = json.loads(api.get(URL, {"limit": limit}).content)
        page = deal_queue_page_from(selection=deal_queue_select(limit=limit))
        data = QueuePageSerializer(queue_page_data(page, now=timezone.now())).data
        expected = json.loads(JSONRenderer().render(data))

        assert len(got["items"]) == limit
        assert got["next_before"] == expected["next_before"]
        for item, want in zip(got["items"], expected["items"], strict=True):
            if item["status"] == "running":  # to now: both a moment apart
                assert abs(item.pop("duration_ms") - want.pop("duration_ms")) < 5_000
            assert item == want
    every = json.loads(api.get(URL).content)["items"]
    assert "naïve «quote»\n\u2028 ✓" in {step["error"] for item in every for step in item["steps"]}
