"""The insights' rollups stay exact however runs end, with concurrent workers and folds."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deals.insights_models import DURATION_BOUNDS, BacklogSample, DealEventRollup, InsightBucket
from deals.insights_selectors import deal_event_totals
from deals.models import Deal
from deals.pipeline import deal_process
from deals.services import (
    deals_upsert_from_hubspot,
    insights_fold,
    insights_summaries_rebuild,
)
from deals.services.insights import histogram_quantile
from deals.stages import RetryableStageError
from deals.tests.factories import DealFactory, PipelineRunFactory, deal_from_hubspot
from deals.tests.insights import assert_insights_exact
from vcc.testing import run_in_threads

pytestmark = pytest.mark.django_db

MIGRATION = "deals/migrations/0014_insights_rollups.py"


def test_the_trigger_bins_durations_as_the_models_say():
    with open(MIGRATION) as migration:
        literal = re.search(r'"\{([0-9.,]+)\}"', migration.read())
    assert literal is not None
    assert tuple(float(b) for b in literal.group(1).split(",")) == DURATION_BOUNDS


def test_a_run_ending_is_counted_in_its_bucket_stage_outcome_and_bin():
    ended = datetime(2026, 12, 7, 9, 7, 30, tzinfo=UTC)
    PipelineRunFactory.create(
        stage="appraisal", started_at=ended - timedelta(seconds=0.3), ended_at=ended
    )

    assert insights_fold(now=ended) == (1, 0)

    with connection.cursor() as cursor:
        cursor.execute("SELECT width, bucket, stage, outcome, bin, runs FROM pipeline_run_rollups")
        rows = sorted(cursor.fetchall())
    assert rows == [
        (300, datetime(2026, 12, 7, 9, 5, tzinfo=UTC), "appraisal", "succeeded", 8, 1),
        (3600, datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "appraisal", "succeeded", 8, 1),
    ]  # bin 8: [0.2 s, 0.5 s)
    assert_insights_exact()


def test_failures_keep_their_reason_with_numbers_as_n_and_retries_apart(use_stage):
    bad = DealFactory.create_batch(2, amount=None)  # intake: "deal 900... is missing amount"
    for deal in bad:
        deal_process(deal_id=deal.id)
    flaky = DealFactory.create()

    def unreachable(deal):
        raise RetryableStageError("appraiser unreachable")

    use_stage("segmentation", unreachable)
    deal_process(deal_id=flaky.id)

    insights_fold(now=timezone.now())
    with connection.cursor() as cursor:
        # Summed over buckets: the runs end on the real clock, maybe either side of a
        # 5-minute boundary.
        cursor.execute(
            "SELECT stage, outcome, reason, sum(runs)::int FROM pipeline_failure_rollups"
            " WHERE width = 300 GROUP BY 1, 2, 3"
        )
        rows = sorted(cursor.fetchall())
    assert rows == [
        ("intake", "failed", "deal N is missing amount", 2),
        ("segmentation", "retried", "appraiser unreachable", 1),
    ]
    assert_insights_exact()


def test_deals_arriving_are_counted_by_source_and_ending_by_outcome(enqueued):
    deals_upsert_from_hubspot(
        deals=[deal_from_hubspot("4001"), deal_from_hubspot("4002")],
        now=timezone.now(),
        source="hubspot_webhook",
    )
    deals_upsert_from_hubspot(
        deals=[deal_from_hubspot("4002"), deal_from_hubspot("4003")],  # 4002: not new again
        now=timezone.now(),
        source="hubspot_sync",
    )
    Deal.objects.filter(hubspot_deal_id="4001").update(status="done", current_stage="done")
    Deal.objects.filter(hubspot_deal_id="4003").update(status="failed")
    Deal.objects.filter(hubspot_deal_id="4003").update(status="failed")  # no change: not again

    insights_fold(now=timezone.now())

    assert deal_event_totals() == {
        ("arrived", "webhook"): 2,
        ("arrived", "sync"): 1,
        ("done", ""): 1,
        ("failed", ""): 1,
    }
    assert DealEventRollup.objects.filter(width=300).count() == 4


def test_a_fold_samples_the_backlog_and_its_oldest_deal():
    now = timezone.now()
    DealFactory.create(updated_at=now)
    old = DealFactory.create()
    Deal.objects.filter(id=old.id).update(updated_at=now - timedelta(minutes=40))
    archived = DealFactory.create(hubspot_state="archived")  # waits for a restore: not counted
    Deal.objects.filter(id=archived.id).update(updated_at=now - timedelta(days=3))
    DealFactory.create(status="running")

    insights_fold(now=now)

    sample = BacklogSample.objects.get()
    assert (sample.pending, sample.running) == (2, 1)
    assert sample.oldest_pending_at == now - timedelta(minutes=40)


def test_a_fold_drops_rollups_older_than_the_views_read():
    now = timezone.now()
    PipelineRunFactory.create(started_at=now - timedelta(days=3), ended_at=now - timedelta(days=3))
    PipelineRunFactory.create(started_at=now, ended_at=now)

    insights_fold(now=now)

    with connection.cursor() as cursor:
        cursor.execute("SELECT width, count(*) FROM pipeline_run_rollups GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [(300, 1), (3600, 2)]
        cursor.execute("SELECT sum(runs)::int FROM pipeline_run_totals")
        assert cursor.fetchone() == (2,)  # totals are forever


@pytest.mark.django_db(transaction=True)
def test_concurrent_pipelines_and_folds_lose_no_run(use_stage):
    good = DealFactory.create_batch(16)
    bad = DealFactory.create_batch(4, amount=None)
    deals = good + bad

    def worker(mine: list[Deal]) -> None:
        for deal in mine:
            insights_fold(now=timezone.now())  # folds racing with runs and each other
            deal_process(deal_id=deal.id)

    run_in_threads(worker, [deals[n::4] for n in range(4)])
    assert_insights_exact()
    totals = deal_event_totals()
    assert (totals[("done", "")], totals[("failed", "")]) == (16, 4)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_rollups_stay_exact_with_two_worker_processes(deals_run_by_two_workers):
    assert_insights_exact()


@pytest.mark.parametrize(
    ("bins", "q", "expected"),
    [
        ({}, 0.5, None),
        ({8: 10}, 0.5, 0.35),  # half way through [0.2 s, 0.5 s)
        ({8: 10, 11: 10}, 0.95, 4.7),  # 19th of 20: 9/10 of the way through [2 s, 5 s)
        ({0: 4}, 0.5, 0.0005),  # [0, 1 ms)
        ({21: 3}, 0.95, 3600.0),  # the open last bin: its lower bound
    ],
)
def test_quantiles_interpolate_inside_their_duration_bin(bins, q, expected):
    assert histogram_quantile(bins, q) == (None if expected is None else pytest.approx(expected))


def test_a_rebuild_writes_the_chart_rows_the_fold_wrote():
    now = timezone.now()
    for seconds in (0.3, 0.3, 3.0):
        PipelineRunFactory.create(started_at=now - timedelta(seconds=seconds), ended_at=now)
    insights_fold(now=now)
    folded = sorted(InsightBucket.objects.values_list("width", "bucket", "p50", "p95"))
    InsightBucket.objects.all().delete()

    assert insights_summaries_rebuild(since=now - timedelta(hours=2)) == 2

    assert sorted(InsightBucket.objects.values_list("width", "bucket", "p50", "p95")) == folded
