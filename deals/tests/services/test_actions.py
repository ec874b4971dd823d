import uuid

import pytest

from deals.models import PipelinePass
from deals.services import deal_rerun, deal_retry
from deals.tests.factories import DealFactory
from vcc.errors import Conflict, NotFound

pytestmark = pytest.mark.django_db


def test_a_rerun_enqueues_only_after_its_commit(django_capture_on_commit_callbacks, enqueued):
    deal = DealFactory.create(status="done", current_stage="done")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deal_rerun(deal_id=deal.id, requested_by="alice")
        assert enqueued == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()

    assert enqueued == [str(deal.id)]
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("pending", "intake")
    assert deal.enqueued_at is not None


def test_a_retry_keeps_the_failed_stage(django_capture_on_commit_callbacks, enqueued):
    deal = DealFactory.create(status="failed", current_stage="appraisal")

    with django_capture_on_commit_callbacks(execute=True):
        deal_retry(deal_id=deal.id, requested_by="alice")

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("pending", "appraisal")
    assert enqueued == [str(deal.id)]


@pytest.mark.parametrize("status", ["pending", "done", "running"])
def test_only_a_failed_deal_can_be_retried(status, enqueued):
    deal = DealFactory.create(status=status)
    with pytest.raises(Conflict):
        deal_retry(deal_id=deal.id, requested_by="alice")
    deal.refresh_from_db()
    assert deal.status == status


def test_a_running_deal_cannot_be_rerun(enqueued):
    deal = DealFactory.create(status="running", current_stage="review")
    with pytest.raises(Conflict, match="being processed"):
        deal_rerun(deal_id=deal.id, requested_by="alice")
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("running", "review")


def test_an_unknown_deal_is_not_found(enqueued):
    with pytest.raises(NotFound):
        deal_rerun(deal_id=uuid.UUID(int=0), requested_by="alice")


def test_a_rerun_starts_a_pass_saying_who_asked_and_from_where(
    enqueued, django_capture_on_commit_callbacks
):
    deal = DealFactory.create(status="failed", current_stage="appraisal")

    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id, requested_by="alice")

    deal.refresh_from_db()
    started = deal.current_pass
    assert started is not None
    assert (started.trigger, started.requested_by, started.from_stage) == (
        "rerun",
        "alice",
        "intake",
    )
    assert started.get_trigger_display() == "Operator re-run"
    assert enqueued.lanes == {str(deal.id): "operator"}


def test_a_retry_starts_a_pass_from_the_stage_that_failed(enqueued):
    deal = DealFactory.create(status="failed", current_stage="appraisal")

    deal_retry(deal_id=deal.id, requested_by="bob")

    deal.refresh_from_db()
    assert deal.current_pass is not None
    assert (deal.current_pass.trigger, deal.current_pass.from_stage) == ("retry", "appraisal")
    assert deal.current_pass.requested_by == "bob"


def test_a_refused_action_starts_no_pass(enqueued):
    deal = DealFactory.create(status="done", current_stage="done")

    with pytest.raises(Conflict, match="only a failed deal can be retried"):
        deal_retry(deal_id=deal.id, requested_by="bob")

    assert list(PipelinePass.objects.filter(deal=deal).values_list("trigger", flat=True)) == [
        "new"  # only the factory's first one
    ]
    assert enqueued == []
