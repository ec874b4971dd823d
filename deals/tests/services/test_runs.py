"""The runner's record (deals/services/runs.py): runs a dead worker left open are closed,
and a stage that keeps killing its worker fails the deal."""

import pytest

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.services import deal_retry
from deals.services.runs import WORKER_LOST
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db


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


def _lost_twice_and_running_again():
    """A deal whose segmentation lost its worker twice and whose third attempt was
    left running, as a third lost worker leaves it."""
    deal = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(deal=deal, stage="intake", attempt=1)
    for attempt in (1, 2):
        PipelineRunFactory.create(
            deal=deal, stage="segmentation", attempt=attempt, status="failed", error=WORKER_LOST
        )
    PipelineRunFactory.create(
        deal=deal, stage="segmentation", attempt=3, status="running", ended_at=None
    )
    return deal


def test_it_fails_a_deal_whose_stage_keeps_killing_its_worker(settings):
    settings.PIPELINE_MAX_LOST_WORKERS = 3
    deal = _lost_twice_and_running_again()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "segmentation")
    last = deal.pipeline_runs.get(stage="segmentation", attempt=3)
    assert last.error is not None
    assert last.error.startswith("gave up: worker lost 3 times in a row at segmentation")
    assert deal.pipeline_runs.count() == 4  # no fourth attempt


def test_after_a_retry_the_lost_worker_count_starts_again(settings):
    settings.PIPELINE_MAX_LOST_WORKERS = 3
    deal = _lost_twice_and_running_again()
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
