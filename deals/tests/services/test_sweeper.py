from datetime import timedelta

import pytest
from django.utils import timezone

from deals.broker import SENT_AT_HEADER
from deals.models import Deal
from deals.services import deals_sweep_stuck
from deals.services.runs import WORKER_LOST
from deals.tests.factories import DealFactory, PipelinePassFactory, PipelineRunFactory
from vcc.celery import app as celery_app

pytestmark = pytest.mark.django_db


def _ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


def test_the_sweeper_sends_again_deals_left_waiting(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    lost = DealFactory.create(status="pending", enqueued_at=_ago(601))
    never_sent = DealFactory.create(status="pending", created_at=_ago(601))
    DealFactory.create(status="pending", enqueued_at=_ago(30))  # still in the queue, probably
    DealFactory.create(status="done", enqueued_at=_ago(9999))
    DealFactory.create(status="failed", enqueued_at=_ago(9999))

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_sweep_stuck()

    assert sorted(enqueued) == sorted([str(lost.id), str(never_sent.id)])
    assert result.deals_enqueued == 2
    lost.refresh_from_db()
    assert lost.enqueued_at > _ago(5)  # not enqueued again on the next sweep


def test_the_sweeper_closes_runs_a_dead_worker_left(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_TIME_LIMIT = 300
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    deal = DealFactory.create(status="running", current_stage="segmentation", enqueued_at=_ago(700))
    Deal.objects.filter(id=deal.id).update(updated_at=_ago(601))
    PipelineRunFactory.create(deal=deal, stage="intake", attempt=1)
    run = PipelineRunFactory.create(
        deal=deal,
        stage="segmentation",
        attempt=1,
        status="running",
        started_at=_ago(601),
        ended_at=None,
    )
    fresh = PipelineRunFactory.create(
        stage="intake", status="running", started_at=_ago(10), ended_at=None, deal__status="running"
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_sweep_stuck()

    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", WORKER_LOST)
    fresh.refresh_from_db()
    assert fresh.status == "running"
    assert result.lost_runs_closed == 1
    assert enqueued == [str(deal.id)]


def test_the_sweeper_leaves_deals_whose_job_is_still_waiting_in_the_broker(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    # A backlog longer than stuck-after: the oldest job still waiting was sent 20 min ago.
    waiting = DealFactory.create(status="pending", enqueued_at=_ago(1200))
    behind = DealFactory.create(status="pending", enqueued_at=_ago(900))
    lost = DealFactory.create(status="pending", enqueued_at=_ago(1800))  # its job went before
    celery_app.send_task(
        "deals.tasks.process_deal",
        args=[str(waiting.id)],
        headers={SENT_AT_HEADER: _ago(1200).isoformat()},
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_sweep_stuck()

    assert enqueued == [str(lost.id)]
    assert result.deals_enqueued == 1
    assert Deal.objects.get(id=behind.id).enqueued_at < _ago(800)  # untouched
    celery_app.control.purge()


def test_one_sweep_recovers_every_lost_deal_however_many(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    lost = DealFactory.create_batch(25, status="pending", enqueued_at=_ago(700))

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_sweep_stuck(batch_size=10)

    assert result.deals_enqueued == 25
    assert sorted(enqueued) == sorted(str(deal.id) for deal in lost)
    with django_capture_on_commit_callbacks(execute=True):
        assert deals_sweep_stuck(batch_size=10).deals_enqueued == 0  # sent: not again


# ------------------------------------------------------------------------------ passes


def test_the_sweeper_starts_a_pass_for_a_deal_its_worker_left_running(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    first = PipelinePassFactory.create(deal__status="running", deal__current_stage="categorization")
    left_running = first.deal
    Deal.objects.filter(id=left_running.id).update(updated_at=_ago(601), enqueued_at=_ago(601))
    waiting_pass = PipelinePassFactory.create(deal__status="pending", deal__enqueued_at=_ago(601))

    with django_capture_on_commit_callbacks(execute=True):
        deals_sweep_stuck()

    left_running.refresh_from_db()
    assert left_running.current_pass_id != first.id
    assert left_running.current_pass is not None
    assert (left_running.current_pass.trigger, left_running.current_pass.from_stage) == (
        "sweeper",
        "categorization",
    )
    # A pending deal only lost its job: sent again, same pass.
    assert Deal.objects.get(id=waiting_pass.deal_id).current_pass_id == waiting_pass.id
    assert sorted(enqueued) == sorted([str(left_running.id), str(waiting_pass.deal_id)])
    assert set(enqueued.lanes.values()) == {"celery"}
