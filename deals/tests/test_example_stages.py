"""The example stages (deals/example_stages.py), one at a time through `run_stage`, and
all together through the runner."""

from decimal import Decimal

import pytest

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.stages import StageError
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_intake_outputs_the_fields_it_checked_normalised(run_stage):
    deal = DealFactory.build(
        name="  Harbour   View ", amount=Decimal("1200.5"), deal_stage=" ContractSent "
    )

    result = run_stage("intake", deal)

    assert deal.hubspot_checked_in_at is not None
    assert result.output == {
        "name": "Harbour View",
        "amount": "1200.50",
        "deal_stage": "contractsent",
        "checked_in_at": deal.hubspot_checked_in_at.isoformat(),
    }
    assert len(result.log.lines) == 1


def test_intake_refuses_a_deal_without_an_amount(run_stage):
    deal = DealFactory.build(hubspot_deal_id="42", amount=None)

    with pytest.raises(StageError, match=r"^deal 42 is missing amount$"):
        run_stage("intake", deal)


@pytest.mark.parametrize(
    ("amount", "segment"),
    [("0.00", "small"), ("9999.99", "small"), ("10000.00", "mid"), ("200000.00", "enterprise")],
)
def test_segmentation_bands_the_amount_intake_checked(run_stage, amount, segment):
    deal = DealFactory.build(amount=Decimal("1"))  # intake's output is what counts

    result = run_stage("segmentation", deal, outputs={"intake": {"amount": amount}})

    assert result.output["segment"] == segment


def test_categorization_maps_the_hubspot_deal_stage_and_warns_on_an_unknown_one(run_stage):
    deal = DealFactory.build()

    known = run_stage("categorization", deal, outputs={"intake": {"deal_stage": "closedwon"}})
    unknown = run_stage("categorization", deal, outputs={"intake": {"deal_stage": "custom1"}})

    assert known.output == {"category": "won", "deal_stage": "closedwon"}
    assert unknown.output["category"] == "unknown"
    assert unknown.log.lines[0]["level"] == "warning"


def test_appraisal_and_review_follow_from_segment_and_category(run_stage):
    deal = DealFactory.build()
    outputs = {
        "intake": {"amount": "20000.00"},
        "segmentation": {"segment": "mid"},
        "categorization": {"category": "committed"},
    }

    appraised = run_stage("appraisal", deal, outputs=outputs)
    reviewed = run_stage("review", deal, outputs={"appraisal": appraised.output})

    assert appraised.output == {
        "figure": "16000.00",
        "confidence": 0.8,
        "segment": "mid",
        "category": "committed",
    }
    assert reviewed.output == {"decision": "pass", "reasons": []}


def test_review_holds_a_deal_it_is_not_sure_of(run_stage):
    appraised = {"figure": "10.00", "confidence": 0.3, "segment": "small", "category": "lost"}

    reviewed = run_stage("review", DealFactory.build(), outputs={"appraisal": appraised})

    assert reviewed.output["decision"] == "hold"
    assert reviewed.output["reasons"] == ["confidence 0.3 below 0.5", "category lost"]


def test_a_stage_without_the_earlier_output_derives_it_again_and_says_so(run_stage):
    deal = DealFactory.build(amount=Decimal("60000"), deal_stage="qualifiedtobuy")

    result = run_stage("appraisal", deal, outputs={})  # runs from before outputs were kept

    assert result.output["segment"] == "large"
    assert result.output["category"] == "early"
    assert result.output["figure"] == "12000.00"
    warnings = [line["message"] for line in result.log.lines if line["level"] == "warning"]
    assert "no segmentation output on record for this deal: derived again" in warnings


def test_through_the_runner_done_writes_the_outcome_of_the_pass():
    deal = DealFactory.create(amount=Decimal("250000"), deal_stage="contractsent")

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert deal.status == Deal.Status.DONE
    runs = {run.stage: run for run in deal.pipeline_runs.all()}
    assert list(runs) == list(STAGE_ORDER)
    assert runs["done"].output == {
        "decision": "hold",  # a figure above review's max_figure waits for a person
        "segment": "enterprise",
        "category": "committed",
        "figure": "200000.00",
        "confidence": 0.6,
    }
    assert all(run.log_lines for run in runs.values())  # each logged a line or two
    assert not any("derived again" in str(run.log_lines) for run in runs.values())
