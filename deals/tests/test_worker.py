"""The pipeline with real Celery worker processes, through the real Redis broker."""

import os
import signal
from itertools import pairwise

import pytest
from django.db import connection

from deals.models import STAGE_ORDER, Deal, PipelineRun
from deals.services import deal_enqueue, deals_sweep_stuck
from deals.services.runs import WORKER_LOST
from deals.tests.factories import DealFactory
from vcc.celery import app as celery_app
from vcc.testing import wait_until, wait_while_progressing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _enqueue(*deals: Deal) -> None:
    for deal in deals:
        deal_enqueue(deal_id=deal.id, hubspot_deal_id=deal.hubspot_deal_id, reason="test")


def _statuses(deals) -> set[str]:
    return set(Deal.objects.filter(id__in=[d.id for d in deals]).values_list("status", flat=True))


def _assert_never_ran_twice_at_once(deal: Deal) -> None:
    runs = list(deal.pipeline_runs.order_by("started_at"))
    for earlier, later in pairwise(runs):
        assert earlier.ended_at is not None
        assert earlier.ended_at <= later.started_at, f"{earlier} overlaps {later}"


def test_a_worker_takes_deals_end_to_end_through_redis(celery_worker):
    celery_worker(concurrency=2)
    deals = DealFactory.create_batch(20)

    _enqueue(*deals)

    wait_until(lambda: _statuses(deals) == {"done"}, timeout=60, what="20 deals done")
    for deal in deals:
        assert deal.pipeline_runs.filter(status="succeeded").count() == len(STAGE_ORDER)


def test_a_worker_killed_mid_stage_leaves_no_deal_stuck(celery_worker):
    worker = celery_worker(
        concurrency=1,
        include="deals.tests.worker_stages",
        env={"TEST_STAGES": "segmentation=slow", "TEST_STAGE_SECONDS": "3"},
    )
    deal = DealFactory.create()
    _enqueue(deal)
    wait_until(
        lambda: deal.pipeline_runs.filter(stage="segmentation", status="running").exists(),
        timeout=30,
        what="segmentation to start",
    )

    [child] = worker.pool_pids()
    os.kill(child, signal.SIGKILL)  # the pool process running the stage

    # The message is requeued (acks_late + reject_on_worker_lost) and taken again.
    wait_until(lambda: _statuses([deal]) == {"done"}, timeout=60, what="the deal to finish")
    lost = deal.pipeline_runs.get(stage="segmentation", attempt=1)
    assert (lost.status, lost.error) == ("failed", WORKER_LOST)
    assert deal.pipeline_runs.get(stage="segmentation", attempt=2).status == "succeeded"
    assert deal.pipeline_runs.filter(status="running").count() == 0
    _assert_never_ran_twice_at_once(deal)


def test_a_stage_that_keeps_killing_its_worker_fails_the_deal(celery_worker, settings):
    celery_worker(
        concurrency=1,
        include="deals.tests.worker_stages",
        env={"TEST_STAGES": "categorization=kill", "PIPELINE_MAX_LOST_WORKERS": "3"},
    )
    deal = DealFactory.create()
    _enqueue(deal)

    # Each loss costs a pool restart, slow on a loaded machine: the deadline counts from
    # the last attempt recorded, not from the start.
    wait_while_progressing(
        lambda: _statuses([deal]) == {"failed"},
        progress=lambda: deal.pipeline_runs.count(),
        idle_timeout=60,
        what="the deal to fail",
    )
    deal.refresh_from_db()
    assert deal.current_stage == "categorization"
    attempts = list(deal.pipeline_runs.filter(stage="categorization").order_by("attempt"))
    assert len(attempts) == 3
    assert attempts[-1].error is not None
    assert attempts[-1].error.startswith("gave up: worker lost 3 times in a row at categorization")
    _assert_never_ran_twice_at_once(deal)


def test_the_sweeper_recovers_deals_after_the_whole_worker_died(celery_worker, settings):
    first = celery_worker(
        concurrency=1,
        include="deals.tests.worker_stages",
        env={"TEST_STAGES": "appraisal=slow", "TEST_STAGE_SECONDS": "30"},
    )
    deal = DealFactory.create()
    _enqueue(deal)
    wait_until(
        lambda: deal.pipeline_runs.filter(stage="appraisal", status="running").exists(),
        timeout=30,
        what="appraisal to start",
    )
    first.kill_everything()  # the host is gone: its unacked job waits out Redis' visibility timeout
    celery_worker(concurrency=1)

    settings.PIPELINE_STUCK_AFTER_SECONDS = 0
    settings.CELERY_TASK_TIME_LIMIT = 0

    def swept_and_done() -> bool:
        deals_sweep_stuck()  # as beat would, every minute
        return _statuses([deal]) == {"done"}

    wait_until(swept_and_done, timeout=60, interval=0.5, what="the deal to finish")
    lost = deal.pipeline_runs.get(stage="appraisal", attempt=1)
    assert (lost.status, lost.error) == ("failed", WORKER_LOST)
    _assert_never_ran_twice_at_once(deal)


def test_the_sweeper_recovers_jobs_lost_with_an_emptied_broker(celery_worker, settings):
    deals = DealFactory.create_batch(5)
    _enqueue(*deals)
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()  # type: ignore[attr-defined]  # kombu-stubs lack it
    celery_worker(concurrency=2)
    assert _statuses(deals) == {"pending"}

    settings.PIPELINE_STUCK_AFTER_SECONDS = 0
    assert deals_sweep_stuck().deals_enqueued == 5
    # ...and a second beat process sweeping at the same time only sends harmless duplicates.
    deals_sweep_stuck()

    wait_until(lambda: _statuses(deals) == {"done"}, timeout=60, what="5 deals done")
    counts = PipelineRun.objects.filter(deal__in=deals).values_list("deal_id", flat=True)
    assert len(counts) == 5 * len(STAGE_ORDER)
    connection.close()
