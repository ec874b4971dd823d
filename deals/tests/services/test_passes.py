"""Passes (deals/services/passes.py): every run is in the deal's current pass, and a pass
started meanwhile is never claimed under the old one."""

from decimal import Decimal

import pytest

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.services import deal_rerun, deal_retry
from deals.tests.factories import DealFactory, PipelinePassFactory

pytestmark = pytest.mark.django_db


def _runs(deal: Deal) -> list[tuple[str, int, str]]:
    return [
        (run.stage, run.attempt, run.status)
        for run in deal.pipeline_runs.order_by("started_at", "attempt")
    ]


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
