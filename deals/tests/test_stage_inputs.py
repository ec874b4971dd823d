"""What a stage is given and gives back cannot hurt the runner: its own copies of params
and outputs, log calls that never raise, text PostgreSQL cannot hold made safe, and no
secret kept."""

import pytest

from deals.models import PipelineRun
from deals.pipeline import deal_process
from deals.stages import RunLog
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_a_stage_changing_its_params_or_an_output_changes_them_for_no_one_else(use_stage):
    def segmentation(context):
        context.params["bands"].append(999)
        context.outputs["intake"]["changed"] = True
        return {"segment": "mid"}

    def categorization(context):
        return {"intake_changed": "changed" in context.outputs["intake"]}

    use_stage("segmentation", segmentation, version="1", params={"bands": [10, 20]})
    use_stage("categorization", categorization, version="1")
    first, second = DealFactory.create(), DealFactory.create()

    deal_process(deal_id=first.id)
    deal_process(deal_id=second.id)

    runs = PipelineRun.objects.filter(stage="segmentation")
    assert [run.params for run in runs] == [{"bands": [10, 20]}, {"bands": [10, 20]}]
    later = PipelineRun.objects.filter(stage="categorization").values_list("output", flat=True)
    assert list(later) == [{"intake_changed": False}, {"intake_changed": False}]


def test_a_log_call_whose_arguments_do_not_fit_keeps_the_line_and_goes_on():
    log = RunLog()

    log.info("%s and %s", 1)

    assert log.lines[0]["message"] == "%s and %s (1,)"


def test_an_unpaired_surrogate_in_a_log_line_or_an_output_is_stored_replaced(use_stage):
    def segmentation(context):
        context.log.info("odd \ud800 text")
        return {"note": "odd \udfff text"}

    use_stage("segmentation", segmentation, version="1")
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    run = PipelineRun.objects.get(deal=deal, stage="segmentation")
    assert deal.status == "done"
    assert run.output == {"note": "odd ? text"}
    assert run.log_lines is not None and run.log_lines[0]["message"] == "odd ? text"


def test_a_secret_from_settings_in_a_log_line_is_kept_redacted(settings):
    settings.HUBSPOT_ACCESS_TOKEN = "pat-na1-secret-value"
    log = RunLog()

    log.error("GET https://api.example/?key=%s failed", "pat-na1-secret-value")

    assert log.lines[0]["message"] == "GET https://api.example/?key=[redacted] failed"
