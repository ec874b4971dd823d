"""The write-back outbox (deals/services/writeback.py): outcomes queued with the status
change by the runner, claimed and settled by the loop."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from deals.models import Deal, DealWriteback, Stage
from deals.pipeline import deal_process
from deals.services import (
    deal_rerun,
    deal_writebacks_claim,
    deal_writebacks_mark_failed,
    deal_writebacks_mark_sent,
    deal_writebacks_retry,
    deals_archive,
    deals_restore,
)
from deals.services.runs import WORKER_LOST, deal_close_lost_runs
from deals.stages import StageError
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db

LEASE = 600.0


def _claim(limit: int = 100, now=None):
    return deal_writebacks_claim(limit=limit, now=now or timezone.now(), lease_seconds=LEASE)


def _fail(claim, deal_ids, *, error="HubSpot error (502)", max_retries=3, final=False, now=None):
    return deal_writebacks_mark_failed(
        token=claim.token,
        deal_ids=deal_ids,
        error=error,
        now=now or timezone.now(),
        max_retries=max_retries,
        backoff_seconds=60,
        final=final,
    )


def test_a_done_deal_queues_its_outcome_in_the_same_write(writeback_on):
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    writeback = DealWriteback.objects.get(deal=deal)
    assert (deal.status, writeback.outcome_status, writeback.outcome_stage) == (
        "done",
        "done",
        "done",
    )
    assert writeback.state == "queued" and writeback.version == 1
    assert writeback.finished_at == deal.updated_at  # the one statement's `now`


def test_a_failed_deal_queues_the_stage_that_failed(writeback_on, use_stage):
    def refuse(deal):
        raise StageError("no segment fits")

    use_stage(Stage.SEGMENTATION, refuse)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    writeback = DealWriteback.objects.get(deal=deal)
    assert (writeback.outcome_status, writeback.outcome_stage) == ("failed", "segmentation")


def test_nothing_is_queued_when_write_back_is_off(settings):
    settings.HUBSPOT_WRITEBACK_ENABLED = False
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    assert Deal.objects.get(id=deal.id).status == "done"
    assert not DealWriteback.objects.exists()


def test_a_deal_that_keeps_killing_its_worker_queues_its_failure(writeback_on, settings):
    settings.PIPELINE_MAX_LOST_WORKERS = 2
    deal = DealFactory.create(status=Deal.Status.RUNNING, current_stage=Stage.APPRAISAL)
    PipelineRunFactory.create(deal=deal, stage=Stage.APPRAISAL, attempt=1, error=WORKER_LOST)
    PipelineRunFactory.create(deal=deal, stage=Stage.APPRAISAL, attempt=2, status="running")

    deal_close_lost_runs(deal=deal)

    writeback = DealWriteback.objects.get(deal=deal)
    assert Deal.objects.get(id=deal.id).status == "failed"
    assert (writeback.outcome_status, writeback.outcome_stage) == ("failed", "appraisal")


def test_an_outcome_that_changes_before_it_is_sent_is_sent_once_with_the_latest_values(
    writeback_on, use_stage, django_capture_on_commit_callbacks, enqueued
):
    def refuse(deal):
        raise StageError("no")

    use_stage(Stage.APPRAISAL, refuse)
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)  # failed at appraisal
    use_stage(Stage.APPRAISAL, lambda deal: None)
    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id, requested_by="operator")
    deal_process(deal_id=deal.id)  # done

    [outcome] = _claim().outcomes
    assert (outcome.status, outcome.stage, outcome.version) == ("done", "done", 2)
    assert DealWriteback.objects.count() == 1


def test_a_sent_outcome_is_complete(writeback_on):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    claim = _claim()

    assert DealWriteback.objects.get(deal=deal).state == "processing"
    assert deal_writebacks_mark_sent(token=claim.token, deal_ids=[deal.id], now=timezone.now())

    writeback = DealWriteback.objects.get(deal=deal)
    assert writeback.state == "complete" and writeback.sent_at is not None
    assert writeback.claim_token is None
    assert _claim().outcomes == []


def test_a_new_outcome_during_a_send_is_neither_lost_nor_sent_alongside(
    writeback_on, django_capture_on_commit_callbacks, enqueued
):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    in_flight = _claim()
    # The deal is re-run and finishes again while the first send is in flight.
    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id, requested_by="operator")
    deal_process(deal_id=deal.id)

    assert _claim().outcomes == []  # not sent beside the send in flight
    deal_writebacks_mark_sent(token=in_flight.token, deal_ids=[deal.id], now=timezone.now())

    writeback = DealWriteback.objects.get(deal=deal)
    assert writeback.state == "queued" and writeback.version == 2
    [next_send] = _claim().outcomes
    assert next_send.version == 2


def test_a_failed_send_backs_off_exponentially_then_gives_up_until_retried(writeback_on):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    start = timezone.now()
    waits = []
    for attempt in range(4):
        now = start + timedelta(days=attempt)
        claim = _claim(now=now)
        assert [o.deal_id for o in claim.outcomes] == [deal.id]
        _fail(claim, [deal.id], max_retries=3, now=now)
        row = DealWriteback.objects.get(deal=deal)
        waits.append(row.next_retry_at - now if row.next_retry_at else None)
        if attempt < 3:
            assert _claim(now=now + timedelta(seconds=1)).outcomes == []  # not due yet

    row = DealWriteback.objects.get(deal=deal)
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240), None]
    assert (row.state, row.retry_count, row.last_error) == ("error", 4, "HubSpot error (502)")
    assert _claim(now=start + timedelta(days=30)).outcomes == []

    assert deal_writebacks_retry(deal_ids=[deal.id], now=timezone.now()) == 1
    row.refresh_from_db()
    assert (row.state, row.retry_count, row.next_retry_at) == ("queued", 0, None)
    assert len(_claim().outcomes) == 1


def test_a_deal_hubspot_does_not_have_gives_up_at_once(writeback_on):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)

    _fail(_claim(), [deal.id], error="not found", final=True)

    assert DealWriteback.objects.get(deal=deal).state == "error"


def test_a_late_settle_after_the_lease_ran_out_changes_nothing(writeback_on):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    dead = _claim()
    later = timezone.now() + timedelta(seconds=LEASE + 1)
    taken_over = _claim(now=later)

    assert [o.deal_id for o in taken_over.outcomes] == [deal.id]
    assert deal_writebacks_mark_sent(token=dead.token, deal_ids=[deal.id], now=later) == 0
    assert DealWriteback.objects.get(deal=deal).state == "processing"
    assert deal_writebacks_mark_sent(token=taken_over.token, deal_ids=[deal.id], now=later) == 1


@pytest.mark.django_db(transaction=True)
def test_two_loops_claiming_at_once_never_take_the_same_outcomes(writeback_on):
    deals = DealFactory.create_batch(300)
    for deal in deals:
        deal_process(deal_id=deal.id)
    claimed: list[list] = []
    start = threading.Barrier(2)

    def loop() -> None:
        try:
            start.wait()
            mine = []
            while outcomes := _claim(limit=25).outcomes:
                mine += [o.deal_id for o in outcomes]
            claimed.append(mine)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    first, second = claimed
    assert first and second  # both loops got work
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(d.id for d in deals)


def test_a_lapsed_claim_on_a_deal_deleted_since_is_dropped_and_a_restore_queues_it_again(
    writeback_on,
):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    claimed_at = timezone.now()
    assert [o.deal_id for o in _claim(now=claimed_at).outcomes] == [deal.id]
    # Deleted in HubSpot while the outcome was in flight, and its sender dies mid-send.
    deals_archive(hubspot_deal_ids=[deal.hubspot_deal_id], at=claimed_at)
    assert DealWriteback.objects.get(deal=deal).state == "processing"

    within = _claim(now=claimed_at + timedelta(seconds=LEASE - 1))
    assert DealWriteback.objects.filter(deal=deal).exists()  # the send may still settle
    after = _claim(now=claimed_at + timedelta(seconds=LEASE + 1))

    assert within.outcomes == after.outcomes == []
    assert not DealWriteback.objects.filter(deal=deal).exists()
    deals_restore(hubspot_deal_ids=[deal.hubspot_deal_id], at=timezone.now())
    assert DealWriteback.objects.get(deal=deal).state == "queued"
