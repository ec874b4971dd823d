"""The runner (deals/pipeline.py): a deal through its stages, failures, retries, re-runs."""

from datetime import timedelta
from decimal import Decimal

import pytest

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.services import deal_rerun, deal_retry
from deals.stages import RetryableStageError, StageError
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def _runs(deal: Deal) -> list[tuple[str, int, str]]:
    return [
        (run.stage, run.attempt, run.status)
        for run in deal.pipeline_runs.order_by("started_at", "attempt")
    ]


def test_it_takes_a_deal_through_every_stage_to_done():
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("done", "done")
    assert _runs(deal) == [(stage, 1, "succeeded") for stage in STAGE_ORDER]
    assert all(
        run.ended_at is not None and run.ended_at >= run.started_at
        for run in deal.pipeline_runs.all()
    )


def test_it_stops_at_the_failed_stage_and_records_the_error():
    deal = DealFactory.create(amount=None)

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "intake")
    [run] = deal.pipeline_runs.all()
    assert run.status == "failed"
    assert run.error == f"deal {deal.hubspot_deal_id} is missing amount"
    assert run.ended_at is not None


def test_a_crashing_stage_fails_the_deal_with_the_exception(use_stage):
    def broken(deal):
        raise KeyError("segment")

    use_stage("segmentation", broken)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "segmentation")
    assert deal.pipeline_runs.get(stage="segmentation").error == "KeyError: 'segment'"


def test_a_transient_error_waits_pending_with_the_retry_due_on_the_run(use_stage, settings):
    settings.PIPELINE_RETRY_BACKOFF_SECONDS = 4

    def busy(deal):
        raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", busy)
    deal = DealFactory.create()

    retry_in = deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert retry_in == 4
    assert (deal.status, deal.current_stage) == ("pending", "appraisal")
    run = deal.pipeline_runs.get(stage="appraisal")
    assert (run.status, run.error) == ("failed", "appraisal service busy")
    assert run.ended_at is not None
    assert run.retry_at == run.ended_at + timedelta(seconds=4)
    assert deal.enqueued_at == run.retry_at  # the sweeper waits from when it is due


def test_each_retry_is_its_own_run_and_backs_off(use_stage, settings):
    settings.PIPELINE_RETRY_BACKOFF_SECONDS = 2
    calls = []

    def flaky(deal):
        calls.append(1)
        if len(calls) < 3:
            raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", flaky)
    deal = DealFactory.create()

    waits = [deal_process(deal_id=deal.id) for _ in range(3)]

    deal.refresh_from_db()
    assert waits == [2, 4, None]
    assert deal.status == "done"
    appraisal = [r for r in _runs(deal) if r[0] == "appraisal"]
    assert appraisal == [
        ("appraisal", 1, "failed"),
        ("appraisal", 2, "failed"),
        ("appraisal", 3, "succeeded"),
    ]


def test_it_gives_up_after_three_transient_failures(use_stage):
    def always_busy(deal):
        raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", always_busy)
    deal = DealFactory.create()

    waits = [deal_process(deal_id=deal.id) for _ in range(4)]

    deal.refresh_from_db()
    assert waits == [0, 0, None, None]  # the fourth job finds the deal failed
    assert (deal.status, deal.current_stage) == ("failed", "appraisal")
    runs = deal.pipeline_runs.filter(stage="appraisal").order_by("attempt")
    assert [(run.status, run.retry_at is None) for run in runs] == [
        ("failed", False),
        ("failed", False),
        ("failed", True),
    ]
    assert not deal.pipeline_runs.filter(stage="review").exists()


def test_after_an_operator_retry_the_transient_attempts_start_again(use_stage):
    def always_busy(deal):
        raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", always_busy)
    deal = DealFactory.create()
    for _ in range(3):
        deal_process(deal_id=deal.id)
    deal_retry(deal_id=deal.id, requested_by="alice")

    assert deal_process(deal_id=deal.id) == 0  # a first attempt again, not a fourth

    deal.refresh_from_db()
    assert deal.status == "pending"


def test_it_resumes_at_the_failed_stage(use_stage):
    def not_yet(deal):
        raise StageError("categories not loaded")

    use_stage("categorization", not_yet)
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    use_stage("categorization", lambda deal: None)

    deal_retry(deal_id=deal.id, requested_by="alice")
    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.status == "done"
    assert _runs(deal) == [
        ("intake", 1, "succeeded"),
        ("segmentation", 1, "succeeded"),
        ("categorization", 1, "failed"),
        ("categorization", 2, "succeeded"),
        ("appraisal", 1, "succeeded"),
        ("review", 1, "succeeded"),
        ("done", 1, "succeeded"),
    ]


def test_a_rerun_starts_over_and_keeps_the_history():
    deal = DealFactory.create(amount=None)
    deal_process(deal_id=deal.id)
    Deal.objects.filter(id=deal.id).update(amount=Decimal("10"))  # fixed upstream

    deal_rerun(deal_id=deal.id, requested_by="alice")
    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.status == "done"
    assert _runs(deal)[0] == ("intake", 1, "failed")
    assert _runs(deal)[1:] == [("intake", 2, "succeeded")] + [
        (stage, 1, "succeeded") for stage in STAGE_ORDER[1:]
    ]


def test_a_second_job_for_a_finished_deal_does_nothing():
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)

    deal_process(deal_id=deal.id)

    assert deal.pipeline_runs.count() == len(STAGE_ORDER)


def test_a_stage_past_the_soft_time_limit_fails_the_deal_saying_so(use_stage, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(deal):
        raise SoftTimeLimitExceeded()

    use_stage("review", too_slow)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "review")
    error = deal.pipeline_runs.get(stage="review").error
    assert error == f"timed out: the job passed its {settings.CELERY_TASK_SOFT_TIME_LIMIT}s limit"
