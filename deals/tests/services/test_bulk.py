"""Bulk actions as a service (deals/services/bulk.py): selections, skips, and feeding the
operator lane a page at a time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.broker import SENT_AT_HEADER
from deals.models import Deal, PipelinePass
from deals.services import bulk as deals_bulk
from deals.services import (
    deals_bulk_action,
    deals_feed_operator_lane,
    deals_restart_selected,
    deals_sweep_stuck,
)
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory
from vcc.celery import app as celery_app
from vcc.errors import InvalidInput

pytestmark = pytest.mark.django_db

URL = "/api/queue/actions/"
NONE_SKIPPED = {"archived": 0, "merged": 0}


def test_a_selection_skips_archived_and_merged_deals_under_their_state(
    enqueued, failed_in_three_states
):
    result = deals_restart_selected(
        action="rerun",
        deal_ids=[d.id for d in failed_in_three_states.values()],
        requested_by="boss",
    )

    assert (result.count, result.skipped) == (1, {"archived": 1, "merged": 1})
    statuses = {
        state: Deal.objects.get(id=deal.id).status for state, deal in failed_in_three_states.items()
    }
    assert statuses == {"active": "pending", "archived": "failed", "merged": "failed"}
    assert_deal_counts_exact()


def test_a_deal_deleted_in_hubspot_after_it_was_listed_is_left_alone(enqueued, monkeypatch):
    deal = DealFactory.create(status="failed")
    restart_many = deals_bulk._restart_many

    def deleted_meanwhile(ids, **kwargs):
        Deal.objects.filter(id=deal.id).update(hubspot_state="archived")  # a webhook, now
        return restart_many(ids, **kwargs)

    monkeypatch.setattr(deals_bulk, "_restart_many", deleted_meanwhile)

    result = deals_bulk_action(action="retry", status="failed", requested_by="op")

    assert result.count == 0
    assert Deal.objects.get(id=deal.id).status == "failed"
    assert_deal_counts_exact()


# ------------------------------------------------------------------------------ the lane
def _bulk_id():
    """The bulk action's id (every deal's first pass, from the factory, has none)."""
    return PipelinePass.objects.exclude(bulk_id=None).values_list("bulk_id", flat=True).first()


def test_the_lane_is_fed_a_page_at_a_time_skipping_deals_started_again_since(enqueued, monkeypatch):
    deals = DealFactory.create_batch(5, status="failed")
    deals_bulk_action(action="retry", status="failed", requested_by="op")  # not yet fed
    bulk_id = _bulk_id()
    by_id = sorted(str(d.id) for d in deals)
    # Meanwhile one of them was retried on its own, and another finished already.
    Deal.objects.filter(id=by_id[1]).update(
        current_pass=PipelinePass.objects.create(
            deal_id=by_id[1], trigger="retry", started_at=timezone.now()
        )
    )
    Deal.objects.filter(id=by_id[2]).update(status="done")
    feeders = []
    monkeypatch.setattr(
        "deals.tasks.feed_operator_lane.apply_async",
        lambda args, **options: feeders.append(args[1]),
    )

    sent = [deals_feed_operator_lane(bulk_id=bulk_id, after=None, page_size=2)]
    first_page = list(enqueued)
    sent.append(deals_feed_operator_lane(bulk_id=bulk_id, after=feeders[-1], page_size=2))
    sent.append(deals_feed_operator_lane(bulk_id=bulk_id, after=feeders[-1], page_size=2))

    assert first_page == [by_id[0]]
    assert list(enqueued) == [by_id[0], by_id[3], by_id[4]]
    assert sent == [1, 1, 1]
    assert feeders == [by_id[1], by_id[3]]  # none after the last page
    assert set(enqueued.lanes.values()) == {"operator"}


def test_the_feeder_queues_itself_behind_each_page(enqueued, monkeypatch, settings):
    from deals.tasks import feed_operator_lane

    settings.PIPELINE_OPERATOR_PAGE_SIZE = 2
    DealFactory.create_batch(3, status="failed")
    deals_bulk_action(action="retry", status="failed", requested_by="op")
    bulk_id = str(_bulk_id())
    queued = []
    monkeypatch.setattr(
        "deals.tasks.feed_operator_lane.apply_async",
        lambda args, **options: queued.append((args, options["queue"], len(enqueued))),
    )

    feed_operator_lane.run(bulk_id)

    assert len(enqueued) == 2
    [((same_bulk, after), lane, sent_before)] = queued
    assert (same_bulk, lane, sent_before) == (bulk_id, "operator", 2)  # behind its page
    feed_operator_lane.run(bulk_id, after)
    assert (len(enqueued), len(queued)) == (3, 1)  # the last page queues no more


def test_it_refuses_without_a_filter_in_the_service_too():
    with pytest.raises(InvalidInput, match="Choose a status"):
        deals_bulk_action(action="retry", requested_by="op")


def test_the_sweeper_leaves_a_bulk_actions_deals_to_its_feeder_however_long_it_takes(
    enqueued, settings, django_capture_on_commit_callbacks
):
    settings.PIPELINE_STUCK_AFTER_SECONDS = 600
    long_ago = timezone.now() - timedelta(minutes=20)
    DealFactory.create_batch(3, status="failed")
    deals_bulk_action(action="retry", status="failed", requested_by="op")
    Deal.objects.filter(status="pending").update(enqueued_at=long_ago)
    bulk_id = _bulk_id()
    lost = DealFactory.create(status="pending", enqueued_at=long_ago - timedelta(minutes=5))
    # The feeder waits in the lane behind a long page: it stands for the three.
    celery_app.send_task(
        "deals.tasks.feed_operator_lane",
        args=[str(bulk_id), None],
        queue="operator",
        headers={SENT_AT_HEADER: long_ago.isoformat()},
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_sweep_stuck()

    assert (result.deals_enqueued, list(enqueued)) == (1, [str(lost.id)])
    celery_app.control.purge()
