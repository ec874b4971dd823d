"""The deal counts kept by triggers stay exact whoever moves a deal, and however."""

import importlib
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deals.models import Deal
from deals.pipeline import deal_process
from deals.selectors import deal_counts
from deals.services import (
    deal_counts_fold,
    deal_rerun,
    deal_retry,
    deals_archive,
    deals_restore,
    deals_sweep_stuck,
    deals_upsert_from_hubspot,
)
from deals.services.runs import WORKER_LOST
from deals.stages import RetryableStageError, StageContext, StageError
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory, PipelineRunFactory, deal_from_hubspot
from vcc.testing import run_in_threads

pytestmark = pytest.mark.django_db


def test_counts_read_in_one_query_by_status_and_by_stage(django_assert_num_queries):
    DealFactory.create_batch(2, status="failed", current_stage="appraisal")
    DealFactory.create(status="running", current_stage="intake")

    with django_assert_num_queries(1):
        counts = deal_counts()

    assert counts.by_status == {"pending": 0, "running": 1, "done": 0, "failed": 2}
    assert counts.by_stage == {
        "intake": 1,
        "segmentation": 0,
        "categorization": 0,
        "appraisal": 2,
        "review": 0,
        "done": 0,
    }
    assert counts.total == 3
    assert_deal_counts_exact()


def test_the_upsert_counts_new_deals_once_and_changed_ones_not_again(enqueued):
    DealFactory.create(hubspot_deal_id="4001", status="done", current_stage="done")

    deals_upsert_from_hubspot(
        deals=[
            deal_from_hubspot("4001", name="Renamed"),
            deal_from_hubspot("4002"),
            deal_from_hubspot("4003"),
        ],
        now=timezone.now(),
        source="test",
    )
    deals_upsert_from_hubspot(deals=[deal_from_hubspot("4002")], now=timezone.now(), source="test")

    assert deal_counts().by_status == {"pending": 2, "running": 0, "done": 1, "failed": 0}
    assert_deal_counts_exact()


def test_the_pipeline_moves_the_counts_with_every_step(use_stage, settings):
    settings.PIPELINE_MAX_ATTEMPTS = 3
    done, failed, waiting = DealFactory.create(), DealFactory.create(), DealFactory.create()

    def appraisal(context: StageContext) -> None:
        if context.deal.id == failed.id:
            raise StageError("no comparables")
        if context.deal.id == waiting.id:
            raise RetryableStageError("appraisal service busy")

    use_stage("appraisal", appraisal)
    for deal in (done, failed, waiting):
        deal_process(deal_id=deal.id)

    counts = deal_counts()
    assert counts.by_status == {"pending": 1, "running": 0, "done": 1, "failed": 1}
    assert counts.by_stage["appraisal"] == 2
    assert_deal_counts_exact()


def test_reruns_retries_and_their_second_pass_keep_the_counts_exact(use_stage, enqueued):
    flaky = {"fail": True}

    def categorization(context: StageContext) -> None:
        if flaky["fail"]:
            raise StageError("categories unavailable")

    use_stage("categorization", categorization)
    deals = DealFactory.create_batch(4)
    for deal in deals:
        deal_process(deal_id=deal.id)
    assert deal_counts().by_status["failed"] == 4

    flaky["fail"] = False
    deal_retry(deal_id=deals[0].id, requested_by="operator")
    deal_rerun(deal_id=deals[1].id, requested_by="operator")
    assert_deal_counts_exact()
    for deal in deals[:2]:
        deal_process(deal_id=deal.id)
    deal_rerun(deal_id=deals[0].id, requested_by="operator")  # a done deal, again

    assert deal_counts().by_status == {"pending": 1, "running": 0, "done": 1, "failed": 2}
    assert_deal_counts_exact()


def test_a_sweep_that_gives_up_on_a_deal_keeps_the_counts_exact(settings, enqueued):
    settings.PIPELINE_MAX_LOST_WORKERS = 2
    settings.CELERY_TASK_TIME_LIMIT = 60
    long_ago = timezone.now() - timedelta(hours=1)
    deal = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=1, status="failed", error=WORKER_LOST
    )
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=2, status="running", started_at=long_ago
    )
    stuck = DealFactory.create(status="pending")
    Deal.objects.filter(id=stuck.id).update(enqueued_at=long_ago, created_at=long_ago)

    result = deals_sweep_stuck()

    assert result.lost_runs_closed == 1
    assert deal_counts().by_status == {"pending": 1, "running": 0, "done": 0, "failed": 1}
    assert_deal_counts_exact()


def test_bulk_updates_deletes_and_raw_sql_keep_the_counts_exact():
    DealFactory.create_batch(30, status="failed", current_stage="appraisal")
    DealFactory.create_batch(10, status="done", current_stage="done")

    # What a bulk action by filter does: one UPDATE for many deals.
    Deal.objects.filter(status="failed").update(status="pending", current_stage="intake")
    assert_deal_counts_exact()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE deals SET status = 'running' WHERE status = 'pending'")
        cursor.execute("UPDATE deals SET updated_at = now()")  # no move: no counting
    Deal.objects.filter(id__in=Deal.objects.filter(status="done").values("id")[:4]).delete()

    assert deal_counts().by_status == {"pending": 0, "running": 30, "done": 6, "failed": 0}
    assert_deal_counts_exact()


def test_a_rolled_back_move_leaves_the_counts_as_they_were():
    deal = DealFactory.create(status="failed", current_stage="intake")

    with pytest.raises(RuntimeError), transaction.atomic():
        Deal.objects.filter(id=deal.id).update(status="pending")
        DealFactory.create()
        raise RuntimeError("changed our mind")

    assert deal_counts().by_status["failed"] == 1
    assert deal_counts().total == 1
    assert_deal_counts_exact()


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_and_folds_neither_lose_a_count_nor_deadlock():
    deals = DealFactory.create_batch(24)
    cycle = ["running", "failed", "pending", "done"]

    def mover(mine: list[Deal]) -> None:
        for round_ in range(25):
            deal_counts_fold()  # folds racing with the moves and with each other
            for deal in mine:
                # One transaction moving several deals, as a bulk action's batch does.
                with transaction.atomic():
                    Deal.objects.filter(id=deal.id).update(status=cycle[round_ % 4])
                    Deal.objects.filter(id=mine[0].id).update(current_stage="review")
                    Deal.objects.filter(id=mine[0].id).update(current_stage="intake")

    run_in_threads(mover, [deals[n::4] for n in range(4)])
    assert_deal_counts_exact()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_with_two_worker_processes(deals_run_by_two_workers):
    assert_deal_counts_exact()


def test_a_fold_keeps_the_counts_and_empties_the_changes():
    DealFactory.create_batch(3, status="failed", current_stage="intake")
    Deal.objects.update(status="pending")
    before = deal_counts()
    assert before.unfolded > 0

    assert deal_counts_fold()

    after = deal_counts()
    assert (after.by_status, after.by_stage, after.unfolded) == (
        before.by_status,
        before.by_stage,
        0,
    )


def test_a_counts_read_folds_once_many_changes_wait(staff_client, monkeypatch):
    monkeypatch.setattr("deals.queue_apis.FOLD_AFTER_CHANGES", 5)
    DealFactory.create_batch(6)
    Deal.objects.update(status="running")

    response = staff_client.get("/api/queue/counts/")

    assert response.json()["running"] == 6
    assert deal_counts().unfolded == 0


def test_truncating_the_deals_empties_the_counts():
    DealFactory.create_batch(3)
    with connection.cursor() as cursor:
        # Deals name their pass through a deferred foreign key: its checks are still
        # pending in this transaction, and PostgreSQL truncates only once they have run.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE deals CASCADE")
    assert deal_counts().total == 0
    assert_deal_counts_exact()


# ------------------------------------------------------------------------------ HubSpot states
def test_archived_and_merged_deals_are_counted_apart_from_the_statuses(staff_client):
    survivor = DealFactory.create(status="done", current_stage="done")
    DealFactory.create(status="failed", current_stage="appraisal")
    DealFactory.create_batch(
        2, status="failed", current_stage="appraisal", hubspot_state="archived"
    )
    DealFactory.create(status="pending", hubspot_state="merged", merged_into=survivor)

    counts = deal_counts()
    body = staff_client.get("/api/queue/counts/").json()

    assert counts.by_status == {"pending": 0, "running": 0, "done": 1, "failed": 1}
    assert counts.inactive == {"archived": 2, "merged": 1}
    assert counts.total == 2  # active deals
    assert counts.by_stage["appraisal"] == 1  # the archived ones are not at a stage here
    assert {key: body[key] for key in ("failed", "total", "archived", "merged")} == {
        "failed": 1,
        "total": 2,
        "archived": 2,
        "merged": 1,
    }
    assert_deal_counts_exact()


def test_archive_restore_and_merge_by_plain_updates_keep_the_counts_exact():
    deals = DealFactory.create_batch(6, status="failed", current_stage="appraisal")
    ids = [deal.id for deal in deals]
    survivor = DealFactory.create(status="done", current_stage="done")

    Deal.objects.filter(id__in=ids[:3]).update(hubspot_state="archived")
    assert deal_counts().inactive == {"archived": 3, "merged": 0}
    assert deal_counts().by_status["failed"] == 3
    assert_deal_counts_exact()

    Deal.objects.filter(id=ids[0]).update(hubspot_state="active")  # restored
    Deal.objects.filter(id__in=ids[3:5]).update(hubspot_state="merged", merged_into=survivor)
    assert deal_counts().by_status == {"pending": 0, "running": 0, "done": 1, "failed": 2}
    assert deal_counts().inactive == {"archived": 2, "merged": 2}
    assert_deal_counts_exact()

    # An archived deal's pipeline stopping, or being moved at all, stays archived; its
    # state and status changed in one statement move it once.
    Deal.objects.filter(id=ids[1]).update(status="pending", current_stage="review")
    Deal.objects.filter(id=ids[2]).update(hubspot_state="active", status="pending")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE deals SET hubspot_state = 'merged' WHERE id = %s", [ids[5]])
        cursor.execute("UPDATE deals SET hubspot_state = hubspot_state")  # no move
    assert deal_counts().by_status == {"pending": 1, "running": 0, "done": 1, "failed": 1}
    assert deal_counts().inactive == {"archived": 1, "merged": 3}
    assert_deal_counts_exact()

    Deal.objects.filter(id__in=ids[3:5]).delete()  # merged deals deleted, inserted archived
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=f"49{n}", hubspot_state="archived") for n in range(4)
    )
    assert deal_counts().inactive == {"archived": 5, "merged": 1}
    assert_deal_counts_exact()


def test_the_lifecycle_services_keep_the_counts_exact(enqueued):
    deal = DealFactory.create(status="pending")
    at = timezone.now()

    deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=at)
    assert deal_counts().inactive["archived"] == 1
    assert deal_counts().by_status["pending"] == 0
    deals_restore(hubspot_deal_ids=[deal.hubspot_deal_id], at=at + timedelta(seconds=1))

    assert deal_counts().inactive["archived"] == 0
    assert deal_counts().by_status["pending"] == 1
    assert_deal_counts_exact()


def test_the_migration_rebuilds_the_counters_by_hubspot_state():
    DealFactory.create_batch(2, status="failed")
    DealFactory.create(status="done", hubspot_state="archived")
    with connection.cursor() as cursor:
        # As if the counters were 0007's, by status alone, and wrong besides.
        cursor.execute("DELETE FROM deal_count_changes")
        cursor.execute("UPDATE deal_counts SET deals = deals + 7")
    migration = importlib.import_module("deals.migrations.0011_deal_counts_by_hubspot_state")

    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARD)

    assert deal_counts().inactive == {"archived": 1, "merged": 0}
    assert deal_counts().by_status["failed"] == 2
    assert_deal_counts_exact()
