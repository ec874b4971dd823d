"""The operator lane with real worker processes and the real Redis broker: what people ask
for starts ahead of a backlog of 1,000 deals, one deal or a bulk action's pages.

The assertions are about order, not the clock (the machine is shared): the operator's
deal starts while the backlog has hardly moved. bench/operator_lane.py measures the time.
"""

import pytest
from django.test import Client

from deals.models import Deal, PipelinePass
from deals.services import deal_retry, deals_bulk_action
from deals.tests.factories import PipelinePassFactory
from vcc.celery import app as celery_app
from vcc.testing import role_user, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

BACKLOG = 1_000
# Every stage of a backlog deal takes a while: 2 worker processes get through a few deals
# a second, so the backlog drains in minutes, not in the seconds the tests take.
SLOW_INTAKE = {"TEST_STAGES": "intake=slow", "TEST_STAGE_SECONDS": "0.5"}


def _backlog(n: int = BACKLOG) -> list[str]:
    """n pending deals, each sent to the backlog, in one pipelined burst."""
    deals = Deal.objects.bulk_create(
        Deal(hubspot_deal_id=str(30_000_000 + i), name=f"Backlog {i}", amount=1) for i in range(n)
    )
    from deals.tasks import process_deal

    with celery_app.producer_or_acquire() as producer:
        for deal in deals:
            process_deal.apply_async((str(deal.id),), queue="celery", producer=producer)
    return [str(deal.id) for deal in deals]


def _queued(queue: str) -> int:
    with celery_app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)  # type: ignore[attr-defined]  # kombu-stubs lack it


def _started_in(pass_: PipelinePass) -> bool:
    return pass_.runs.exists()


def test_a_retried_deal_starts_ahead_of_a_1000_deal_backlog(celery_worker):
    failed = PipelinePassFactory.create(
        deal__status="failed", deal__current_stage="segmentation"
    ).deal
    _backlog()
    celery_worker(concurrency=2, include="deals.tests.worker_stages", env=SLOW_INTAKE)
    wait_until(lambda: _queued("celery") < BACKLOG, timeout=60, what="the backlog to start")

    retry_pass = deal_retry(deal_id=failed.id, requested_by="operator").current_pass
    assert retry_pass is not None
    wait_until(lambda: _started_in(retry_pass), timeout=60, what="the retried deal to start")

    still_waiting = Deal.objects.filter(status="pending", name__startswith="Backlog").count()
    assert still_waiting >= BACKLOG - 50, "the retry waited behind the backlog"
    wait_until(lambda: Deal.objects.get(id=failed.id).status == "done", timeout=60)
    run = retry_pass.runs.order_by("started_at").first()
    assert run is not None
    assert run.stage == "segmentation"


def test_a_bulk_action_goes_through_the_lane_in_pages_ahead_of_the_backlog(celery_worker, settings):
    settings.PIPELINE_OPERATOR_PAGE_SIZE = 10
    failed = [
        PipelinePassFactory.create(
            deal__status="failed", deal__current_stage="appraisal", deal__name=f"Bulk {n}"
        ).deal
        for n in range(30)
    ]
    _backlog()
    celery_worker(
        concurrency=2,
        include="deals.tests.worker_stages",
        env={**SLOW_INTAKE, "PIPELINE_OPERATOR_PAGE_SIZE": "10"},
    )

    result = deals_bulk_action(action="retry", q="Bulk", requested_by="operator")
    assert result.count == 30
    # Never more than a page (and its feeder) waits in the lane: a click stays quick.
    lane_lengths = []

    def all_done() -> bool:
        lane_lengths.append(_queued("operator"))
        return (
            not Deal.objects.filter(id__in=[d.id for d in failed]).exclude(status="done").exists()
        )

    wait_until(all_done, timeout=120, interval=0.02, what="the 30 deals of the bulk retry")
    assert max(lane_lengths) <= 11
    still_waiting = Deal.objects.filter(status="pending", name__startswith="Backlog").count()
    assert still_waiting >= BACKLOG - 100, "the bulk action waited behind the backlog"


def test_a_click_through_the_api_goes_to_the_lane(django_user_model):
    celery_app.control.purge()
    deal = PipelinePassFactory.create(deal__status="failed").deal
    client = Client()
    client.force_login(role_user("op", "operator"))

    assert client.post(f"/api/deals/{deal.id}/retry/").status_code == 202

    assert (_queued("operator"), _queued("celery")) == (1, 0)
