"""The runner where jobs race or the database goes away: one pipeline per deal, each
attempt its own run (real threads, real connections)."""

import threading

import pytest
from django.db import OperationalError, connection, connections

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.services import deal_rerun
from deals.stages import RetryableStageError
from deals.tests.factories import DealFactory
from vcc.errors import Conflict

pytestmark = pytest.mark.django_db


def _runs(deal: Deal) -> list[tuple[str, int, str]]:
    return [
        (run.stage, run.attempt, run.status)
        for run in deal.pipeline_runs.order_by("started_at", "attempt")
    ]


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
