import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, connections

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import WORKER_LOST, deal_process
from deals.services import deal_rerun, deal_retry
from deals.stages import RetryableStageError, StageError
from deals.tests.factories import DealFactory, PipelinePassFactory, PipelineRunFactory
from vcc.errors import Conflict

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


def test_it_closes_the_run_a_dead_worker_left_and_runs_the_stage_again():
    deal = DealFactory.create(status="running", current_stage="appraisal")
    for stage in STAGE_ORDER[:3]:
        PipelineRunFactory.create(deal=deal, stage=stage, attempt=1)
    PipelineRunFactory.create(
        deal=deal, stage="appraisal", attempt=1, status="running", ended_at=None
    )

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.status == "done"
    lost = deal.pipeline_runs.get(stage="appraisal", attempt=1)
    assert (lost.status, lost.error) == ("failed", WORKER_LOST)
    assert deal.pipeline_runs.get(stage="appraisal", attempt=2).status == "succeeded"


def test_it_fails_a_deal_whose_stage_keeps_killing_its_worker(settings):
    settings.PIPELINE_MAX_LOST_WORKERS = 3
    deal = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(deal=deal, stage="intake", attempt=1)
    for attempt in (1, 2):
        PipelineRunFactory.create(
            deal=deal, stage="segmentation", attempt=attempt, status="failed", error=WORKER_LOST
        )
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=3, status="running", ended_at=None
    )

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "segmentation")
    last = deal.pipeline_runs.get(stage="segmentation", attempt=3)
    assert last.error is not None
    assert last.error.startswith("gave up: worker lost 3 times in a row at segmentation")
    assert deal.pipeline_runs.count() == 4  # no fourth attempt


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_is_retried_as_a_new_run(use_stage):
    cut: list[int] = []

    def cut_connection_once(deal):
        if not cut:
            cut.append(1)
            # Terminate our own session from a second connection, as a DB failover would.
            with connections["default"].cursor() as cursor:
                pid = cursor.connection.info.backend_pid
            other = connection.copy()
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            other.close()

    use_stage("categorization", cut_connection_once)
    deal = DealFactory.create()

    with pytest.raises(OperationalError):
        deal_process(deal_id=deal.id)
    connection.close()
    deal_process(deal_id=deal.id)  # what the task's retry does

    deal.refresh_from_db()
    assert deal.status == "done"
    runs = [r for r in _runs(deal) if r[0] == "categorization"]
    assert runs == [("categorization", 1, "failed"), ("categorization", 2, "succeeded")]
    lost = deal.pipeline_runs.get(stage="categorization", attempt=1)
    assert lost.error is not None
    assert lost.error.startswith("database connection lost: ")


def _in_thread(function, *args, **kwargs) -> threading.Thread:
    def target():
        try:
            function(*args, **kwargs)
        finally:
            connection.close()  # each thread has its own database connection

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_second_job_gives_way_while_the_deal_is_being_processed(use_stage):
    entered, release = threading.Event(), threading.Event()

    def blocking_intake(deal):
        entered.set()
        assert release.wait(timeout=30)

    use_stage("intake", blocking_intake)
    deal = DealFactory.create()

    first = _in_thread(deal_process, deal_id=deal.id)
    assert entered.wait(timeout=30)
    second = _in_thread(deal_process, deal_id=deal.id)
    second.join(timeout=30)
    assert not second.is_alive(), "the second job should give up at once"
    release.set()
    first.join(timeout=30)

    deal.refresh_from_db()
    assert deal.status == "done"
    assert _runs(deal) == [(stage, 1, "succeeded") for stage in STAGE_ORDER]


@pytest.mark.django_db(transaction=True)
def test_two_jobs_racing_for_one_deal_give_one_pipeline(use_stage):
    start = threading.Barrier(2)
    use_stage("segmentation", lambda deal: None)
    deals = DealFactory.create_batch(10)

    def job(deal_id):
        start.wait(timeout=30)
        deal_process(deal_id=deal_id)

    for deal in deals:
        threads = [_in_thread(job, deal.id) for _ in range(2)]
        for thread in threads:
            thread.join(timeout=30)

    for deal in deals:
        deal.refresh_from_db()
        assert deal.status == "done"
        assert _runs(deal) == [(stage, 1, "succeeded") for stage in STAGE_ORDER]


@pytest.mark.django_db(transaction=True)
def test_a_rerun_is_refused_while_the_deal_is_running(use_stage):
    entered, release = threading.Event(), threading.Event()

    def blocking_review(deal):
        entered.set()
        assert release.wait(timeout=30)

    use_stage("review", blocking_review)
    deal = DealFactory.create()
    worker = _in_thread(deal_process, deal_id=deal.id)
    assert entered.wait(timeout=30)

    with pytest.raises(Conflict, match="being processed"):
        deal_rerun(deal_id=deal.id, requested_by="alice")
    release.set()
    worker.join(timeout=30)

    deal.refresh_from_db()
    assert deal.status == "done"
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


def test_after_a_retry_the_lost_worker_count_starts_again(settings):
    settings.PIPELINE_MAX_LOST_WORKERS = 3
    deal = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(deal=deal, stage="intake", attempt=1)
    for attempt in (1, 2):
        PipelineRunFactory.create(
            deal=deal, stage="segmentation", attempt=attempt, status="failed", error=WORKER_LOST
        )
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=3, status="running", ended_at=None
    )
    deal_process(deal_id=deal.id)  # gives up: the third lost worker in a row
    deal_retry(deal_id=deal.id, requested_by="alice")
    # The retried attempt loses its worker once more: one loss, not a fourth in a row.
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=4, status="running", ended_at=None
    )
    Deal.objects.filter(id=deal.id).update(status="running")

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.status == "done"
    assert deal.pipeline_runs.get(stage="segmentation", attempt=5).status == "succeeded"


@pytest.mark.django_db(transaction=True)  # the eager task closes the connection after it
def test_the_job_retries_a_transient_stage_error_through_celery(use_stage):
    from deals.tasks import process_deal

    calls = []

    def flaky(deal):
        calls.append(1)
        if len(calls) < 3:
            raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", flaky)
    deal = DealFactory.create()

    process_deal.apply(args=(str(deal.id),))  # eager: Celery runs its retries inline

    deal.refresh_from_db()
    assert deal.status == "done"
    assert len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_the_job_retries_a_database_error_and_each_attempt_is_its_own_run(use_stage):
    from deals.tasks import process_deal

    calls = []

    def flaky_database(deal):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    use_stage("segmentation", flaky_database)
    deal = DealFactory.create()

    process_deal.apply(args=(str(deal.id),))  # eager: Celery runs its retries inline

    deal.refresh_from_db()
    assert deal.status == "done"
    runs = deal.pipeline_runs.filter(stage="segmentation").order_by("attempt")
    assert [(r.attempt, r.status) for r in runs] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert runs[0].error == "database connection lost: server closed the connection unexpectedly"


# ------------------------------------------------------------------------------ passes
def test_every_run_is_recorded_in_the_deals_current_pass():
    first = PipelinePassFactory.create(deal__amount=None)
    deal = first.deal
    deal_process(deal_id=deal.id)  # intake fails
    Deal.objects.filter(id=deal.id).update(amount=Decimal("10"))

    deal_retry(deal_id=deal.id, requested_by="alice")
    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert list(first.runs.values_list("stage", "status")) == [("intake", "failed")]
    assert deal.current_pass is not None
    assert deal.current_pass.trigger == "retry"
    assert list(deal.current_pass.runs.order_by("started_at").values_list("stage", flat=True)) == (
        list(STAGE_ORDER)
    )


def test_a_deal_that_came_in_without_a_pass_gets_its_first_one_when_it_runs():
    deal = DealFactory.create(first_pass=False)  # as a shell or a bulk insert makes it: no pass
    assert deal.current_pass_id is None

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    [only] = deal.passes.all()
    assert (only.trigger, only.from_stage, deal.current_pass_id) == ("new", "intake", only.id)
    assert set(deal.pipeline_runs.values_list("pipeline_pass_id", flat=True)) == {only.id}


def test_a_pass_started_after_a_job_read_the_deal_is_not_claimed_under_the_old_one(
    monkeypatch,
):
    """A re-run of a pending deal lands between the runner's read and its claim: the runner
    reads again and records its runs in the new pass."""
    first = PipelinePassFactory.create(deal__status="pending")
    deal = first.deal
    from deals import pipeline

    real_filter = Deal.objects.filter
    raced: list[Deal] = []

    def filter_and_race(*args, **kwargs):
        if "current_pass_id" in kwargs and not raced:
            raced.append(deal_rerun(deal_id=deal.id, requested_by="alice"))
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(pipeline.Deal.objects, "filter", filter_and_race)
    deal_process(deal_id=deal.id)
    monkeypatch.undo()

    deal.refresh_from_db()
    assert deal.status == "done"
    assert not first.runs.exists()
    assert deal.current_pass is not None
    assert deal.current_pass.runs.count() == len(STAGE_ORDER)
