"""The queue page's insights panel and health strip, in a real Chromium: the charts drawn
from the rollups, numbers on hover, the range switch, and what is wrong said plainly."""

import random
import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from deals.insights_models import BacklogSample
from deals.models import Deal, PipelineRun
from deals.services import deals_upsert_from_hubspot, insights_fold
from deals.tests.browser import ARTIFACTS, browser_test, log_in
from deals.tests.factories import DealFactory, PipelineRunFactory, deal_from_hubspot
from hubspot.models import SyncRun

STAGES = ["intake", "segmentation", "categorization", "appraisal", "review"]
TYPICAL = {
    "intake": 0.05,
    "segmentation": 0.4,
    "categorization": 1.2,
    "appraisal": 3.0,
    "review": 0.8,
}


def _a_day_of_work(now) -> None:
    """Runs, arrivals, failures and backlog samples over the last 24 hours, as the rollups
    would hold them after a day (seeded, then folded)."""
    rng = random.Random(21)
    deal = DealFactory.create(status="done", current_stage="done")
    assert deal.current_pass_id is not None
    runs: list[PipelineRun] = []
    # Every 5-minute bucket gets a wave of runs at each stage, so that wherever the cursor
    # lands on the durations chart, it finds numbers.
    this_bucket = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % 5)
    for step in range(288):
        at = min(now, this_bucket - timedelta(minutes=5 * step, seconds=-rng.randint(20, 200)))
        for stage in STAGES:
            for _ in range(2 + step % 4):
                took = TYPICAL[stage] * rng.uniform(0.8, 1.6) * (1 + (step % 96) / 48)
                runs.append(
                    PipelineRun(
                        deal=deal,
                        pipeline_pass_id=deal.current_pass_id,
                        stage=stage,
                        attempt=len(runs) + 1,
                        status="succeeded",
                        started_at=at - timedelta(seconds=took),
                        ended_at=at,
                    )
                )
    PipelineRun.objects.bulk_create(runs)
    attempt = len(runs)
    for hour in range(24):
        at = now - timedelta(hours=hour, minutes=rng.randint(0, 50))
        wave = 3 + (hour % 6)
        if hour % 3 == 0:
            attempt += 2
            PipelineRunFactory.create(
                deal=deal,
                stage="appraisal",
                attempt=attempt,
                status="failed",
                error="appraiser answered 503",
                retry_at=at,
                started_at=at,
                ended_at=at,
            )
            PipelineRunFactory.create(
                deal=deal,
                stage="intake",
                attempt=attempt + 1,
                status="failed",
                error=f"deal {9000 + hour} is missing amount",
                started_at=at,
                ended_at=at,
            )
        sources = ["hubspot_sync", "hubspot_webhook", "hubspot_import"]
        deals_upsert_from_hubspot(
            deals=[deal_from_hubspot(f"{hour}{n:03d}") for n in range(wave)],
            now=at,
            source=sources[hour % 3],
        )
    for step in range(288):
        at = now - timedelta(minutes=5 * step)
        BacklogSample.objects.create(
            bucket=at.replace(second=0, microsecond=0, minute=at.minute - at.minute % 5),
            sampled_at=at,
            pending=40 + abs(144 - step) // 2,
            running=2,
            oldest_pending_at=at - timedelta(seconds=30 + abs(144 - step) * 3),
        )
    # Each deal done 20 minutes after it came in.
    Deal.objects.filter(status="pending").update(
        status="done", current_stage="done", updated_at=F("updated_at") + timedelta(minutes=20)
    )
    insights_fold(now=now)


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_charts_show_the_day_with_numbers_on_hover(page, settings, enqueued):
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5
    now = timezone.now()
    SyncRun.objects.create(
        trigger="scheduled", status="succeeded", created_at=now, started_at=now, finished_at=now
    )
    _a_day_of_work(now)
    log_in(page)

    panel = page.get_by_role("region", name="How the pipeline is doing")
    for chart in ("flow", "durations", "failures", "backlog"):
        expect(panel.locator(f"#chart-{chart} canvas")).to_be_visible()
    expect(panel.locator("#insights-asof")).to_have_text(re.compile(r"^Rolled up at "))
    legend = panel.locator("#chart-flow .u-legend")
    expect(legend).to_contain_text("in: webhook")
    expect(legend).to_contain_text("failed")
    reasons = panel.get_by_role("list", name="Top failure reasons by stage")
    expect(reasons).to_contain_text("appraisal appraiser answered N 8 (0 failed, 8 retried)")
    expect(reasons).to_contain_text("intake deal N is missing amount 8 (8 failed, 0 retried)")
    expect(page.locator("#health-status")).to_have_text("Health: ok")

    # Numbers on hover: the legend shows the values under the cursor.
    over = panel.locator("#chart-durations .u-over")
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    expect(panel.locator("#chart-durations .u-legend")).to_contain_text(re.compile(r"\d+(\.\d)? s"))
    page.screenshot(path=ARTIFACTS / "queue-insights.png")

    panel.get_by_role("button", name="7 days").click()
    expect(panel.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_role("button", name="24 hours")).to_have_attribute("aria-pressed", "false")
    expect(reasons).to_contain_text("intake deal N is missing amount 8")

    panel.get_by_role("button", name="Hide charts").click()
    expect(panel.locator("#insights-body")).to_be_hidden()


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_strip_says_what_is_wrong(page, settings):
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5
    settings.PIPELINE_BACKLOG_ALERT_MINUTES = 30
    now = timezone.now()
    SyncRun.objects.create(
        trigger="scheduled", status="succeeded", created_at=now, started_at=now, finished_at=now
    )
    waiting = DealFactory.create()
    Deal.objects.filter(id=waiting.id).update(updated_at=now - timedelta(minutes=50))
    log_in(page)

    expect(page.locator("#health-status")).to_have_text("Health: failing")
    reasons = page.get_by_role("list", name="What is wrong")
    expect(reasons).to_have_text(re.compile(r"^The oldest pending deal has waited 50 minutes"))
    page.screenshot(path=ARTIFACTS / "queue-health-failing.png")
