"""The stage contract (deals/stages.py) as the runner keeps it: each run records its
stage's version and params, its output (capped) and its log lines (capped and counted);
later stages read earlier ones' outputs."""

import pytest

from deals.models import Deal, PipelineRun
from deals.pipeline import deal_process
from deals.services import deal_retry
from deals.stages import (
    LOG_LINES_LIMIT,
    OUTPUT_LIMIT_BYTES,
    RetryableStageError,
    StageError,
    register,
    stage_get,
)
from deals.tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def _run(deal: Deal, stage: str, attempt: int = 1) -> PipelineRun:
    return PipelineRun.objects.get(deal=deal, stage=stage, attempt=attempt)


def _lines(run: PipelineRun) -> list[dict]:
    assert run.log_lines is not None
    return run.log_lines


def test_every_run_records_its_stages_version_params_output_and_log_lines(use_stage):
    def segmentation(context):
        context.log.info("banding %s", context.deal.amount)
        return {"segment": "mid", "band": context.params["band"]}

    use_stage("segmentation", segmentation, version="2.1", params={"band": [10, 20]})
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    run = _run(deal, "segmentation")
    assert (run.stage_version, run.params) == ("2.1", {"band": [10, 20]})
    assert run.output == {"segment": "mid", "band": [10, 20]}
    assert not run.output_truncated
    [line] = _lines(run)
    assert (line["level"], line["message"]) == ("info", "banding 1250.00")
    assert line["at"].startswith(str(run.started_at.year))
    assert run.log_lines_dropped == 0
    # The other stages are the registered examples, with theirs.
    intake = _run(deal, "intake")
    assert intake.stage_version == stage_get("intake").version
    assert intake.params == dict(stage_get("intake").params)


def test_a_later_stage_sees_the_earlier_stages_outputs_of_this_pass(use_stage):
    seen = {}

    def appraisal(context):
        seen.update(context.outputs)
        return {"figure": "1.00", "confidence": 1.0, "segment": "s", "category": "c"}

    use_stage("segmentation", lambda context: {"segment": "from-segmentation"})
    use_stage("appraisal", appraisal)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    assert list(seen) == ["intake", "segmentation", "categorization"]
    assert seen["segmentation"] == {"segment": "from-segmentation"}
    assert seen["intake"] == _run(deal, "intake").output


def test_a_stage_resumed_in_a_later_job_reads_the_earlier_outputs_back(use_stage, settings):
    settings.PIPELINE_RETRY_BACKOFF_SECONDS = 0
    seen = []

    def flaky(context):
        seen.append(dict(context.outputs))
        if len(seen) == 1:
            raise RetryableStageError("busy")
        return None

    use_stage("categorization", flaky)
    deal = DealFactory.create()

    assert deal_process(deal_id=deal.id) == 0  # a transient failure: the job ends
    deal_process(deal_id=deal.id)  # the retry, a new job

    assert seen[1] == seen[0]  # the same outputs, read from the runs this time
    assert seen[1]["segmentation"] == _run(deal, "segmentation").output


def test_a_retrys_new_run_has_its_own_output_and_log_lines(use_stage):
    calls = []

    def review(context):
        calls.append(1)
        context.log.info("call %s", len(calls))
        if len(calls) == 1:
            raise StageError("reviewer away")
        return {"decision": "pass", "call": len(calls)}

    use_stage("review", review)
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    deal_retry(deal_id=deal.id, requested_by="alice")
    deal_process(deal_id=deal.id)

    failed, retried = _run(deal, "review", 1), _run(deal, "review", 2)
    assert (failed.status, failed.output, failed.error) == ("failed", None, "reviewer away")
    # The failure's message ends its log, as operators read it in the drawer.
    assert [line["message"] for line in _lines(failed)] == ["call 1", "reviewer away"]
    assert _lines(failed)[-1]["level"] == "error"
    assert (retried.status, retried.output) == ("succeeded", {"decision": "pass", "call": 2})
    assert [line["message"] for line in _lines(retried)] == ["call 2"]


def test_an_output_over_64_kb_is_stored_truncated_and_flagged(use_stage):
    big = {"rows": ["x" * 1000] * 100}  # about 100 KB of JSON
    seen = {}
    use_stage("segmentation", lambda context: big)
    use_stage("categorization", lambda context: seen.update(context.outputs))
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    run = _run(deal, "segmentation")
    assert run.output_truncated
    assert isinstance(run.output, str)
    assert len(run.output.encode()) == OUTPUT_LIMIT_BYTES
    assert run.output.startswith('{"rows": ["xxx')
    # Later stages see what was stored, in this job as in any later one.
    assert seen["segmentation"] == run.output
    assert _run(deal, "intake").output_truncated is False


def test_log_lines_past_200_are_counted_not_stored(use_stage):
    def chatty(context):
        for n in range(LOG_LINES_LIMIT + 50):
            context.log.info("line %s", n)

    use_stage("segmentation", chatty)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    run = _run(deal, "segmentation")
    assert len(_lines(run)) == LOG_LINES_LIMIT
    assert _lines(run)[-1]["message"] == f"line {LOG_LINES_LIMIT - 1}"
    assert run.log_lines_dropped == 50


def test_log_lines_past_64_kb_are_counted_not_stored(use_stage):
    def verbose(context):
        for _ in range(10):
            context.log.warning("%s", "y" * 10_000)

    use_stage("segmentation", verbose)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    run = _run(deal, "segmentation")
    assert (len(_lines(run)), run.log_lines_dropped) == (6, 4)
    assert {line["level"] for line in _lines(run)} == {"warning"}


def test_an_output_that_is_not_json_fails_the_stage_saying_so(use_stage):
    use_stage("segmentation", lambda context: {"when": object()})
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("failed", "segmentation")
    run = _run(deal, "segmentation")
    assert run.error is not None
    assert run.error.startswith("the stage's output is not JSON-serialisable: ")


def test_a_crashed_stage_keeps_its_short_error_and_its_log_lines_not_the_traceback(use_stage):
    def broken(context):
        context.log.info("about to look up the segment")
        raise KeyError("segment")

    use_stage("segmentation", broken)
    deal = DealFactory.create()

    deal_process(deal_id=deal.id)

    run = _run(deal, "segmentation")
    assert run.error == "KeyError: 'segment'"
    messages = [line["message"] for line in _lines(run)]
    assert messages == ["about to look up the segment", "KeyError: 'segment'"]
    assert "Traceback" not in str(_lines(run))


def test_registering_needs_a_known_stage_and_a_version():
    with pytest.raises(ValueError, match="unknown stage 'pricing'"):
        register("pricing", version="1")
    with pytest.raises(ValueError, match="a version of 1 to 64 characters"):
        register("intake", version="")
