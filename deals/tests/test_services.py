from datetime import timedelta

import pytest
from django.utils import timezone

from deals.broker import SENT_AT_HEADER
from deals.models import Deal
from deals.pipeline import WORKER_LOST
from deals.services import deal_rerun, deal_retry, deals_sweep_stuck
from deals.tests.factories import DealFactory, PipelineRunFactory
from vcc.celery import app as celery_app
from vcc.errors import Conflict, NotFound

pytestmark = pytest.mark.django_db


def test_a_rerun_enqueues_only_after_its_commit(django_capture_on_commit_callbacks, enqueued):
    deal = DealFactory(status="done", current_stage="done")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deal_rerun(deal_id=deal.id)
        assert enqueued == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()

    assert enqueued == [str(deal.id)]
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("pending", "intake")
    assert deal.enqueued_at is not None


def test_a_retry_keeps_the_failed_stage(django_capture_on_commit_callbacks, enqueued):
    deal = DealFactory(status="failed", current_stage="appraisal")

    with django_capture_on_commit_callbacks(execute=True):
        deal_retry(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("pending", "appraisal")
    assert enqueued == [str(deal.id)]


@pytest.mark.parametrize("status", ["pending", "done", "running"])
def test_only_a_failed_deal_can_be_retried(status, enqueued):
    deal = DealFactory(status=status)
    with pytest.raises(Conflict):
        deal_retry(deal_id=deal.id)
    deal.refresh_from_db()
    assert deal.status == status


def test_a_running_deal_cannot_be_rerun(enqueued):
    deal = DealFactory(status="running", current_stage="review")
    with pytest.raises(Conflict, match="being processed"):
        deal_rerun(deal_id=deal.id)
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("running", "review")


def test_an_unknown_deal_is_not_found(enqueued):
    with pytest.raises(NotFound):
        deal_rerun(deal_id="00000000-0000-0000-0000-000000000000")


def test_a_failed_send_is_logged_and_left_to_the_sweeper(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("deals.tasks.process_deal.apply_async", broker_down)
    deal = DealFactory(status="failed")

    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id)

    assert "deal_enqueue_failed" in [r.message for r in caplog.records]
    deal.refresh_from_db()
    assert deal.status == "pending"  # committed; the sweeper sends it again later


def _ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


def test_the_sweeper_sends_again_deals_left_waiting(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    lost = DealFactory(status="pending", enqueued_at=_ago(601))
    never_sent = DealFactory(status="pending", created_at=_ago(601))
    DealFactory(status="pending", enqueued_at=_ago(30))  # still in the queue, probably
    DealFactory(status="done", enqueued_at=_ago(9999))
    DealFactory(status="failed", enqueued_at=_ago(9999))

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
    deal = DealFactory(status="running", current_stage="segmentation", enqueued_at=_ago(700))
    Deal.objects.filter(id=deal.id).update(updated_at=_ago(601))
    PipelineRunFactory(deal=deal, stage="intake", attempt=1)
    run = PipelineRunFactory(
        deal=deal,
        stage="segmentation",
        attempt=1,
        status="running",
        started_at=_ago(601),
        ended_at=None,
    )
    fresh = PipelineRunFactory(
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


def test_it_sends_the_job_to_the_broker_after_commit(django_capture_on_commit_callbacks):
    celery_app.control.purge()
    deal = DealFactory(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id)

    with celery_app.connection_for_write() as conn:
        client = conn.default_channel.client
        [message] = client.lrange(settings_queue(), 0, -1)
    assert str(deal.id).encode() in message


def settings_queue() -> str:
    from django.conf import settings

    return settings.CELERY_TASK_DEFAULT_QUEUE


def test_the_sweeper_leaves_deals_whose_job_is_still_waiting_in_the_broker(
    settings, enqueued, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    # A backlog longer than stuck-after: the oldest job still waiting was sent 20 min ago.
    waiting = DealFactory(status="pending", enqueued_at=_ago(1200))
    behind = DealFactory(status="pending", enqueued_at=_ago(900))
    lost = DealFactory(status="pending", enqueued_at=_ago(1800))  # its job went before
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
