"""The queue page's strips, in a real Chromium: the ingestion strip and its banner, and
the bulk actions on the deals a filter selects (see test_queue_page)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Dialog, expect

from deals.models import Deal
from deals.tests.browser import ARTIFACTS, browser_test, log_in
from deals.tests.factories import DealFactory
from hubspot.models import SyncRun


# ------------------------------------------------------------------------------ ingestion
def _sync_run(status: str, minutes_ago: float, **fields) -> SyncRun:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        trigger="scheduled", status=status, created_at=at, started_at=at, finished_at=at, **fields
    )


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_strip_shows_the_last_sync_and_a_banner_when_syncs_fail(page, settings):
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5
    _sync_run("succeeded", 1, new=3, updated=5, restarted=1, invalid=2)
    log_in(page)

    strip = page.get_by_role("region", name="Ingestion from HubSpot")
    expect(strip.locator("#sync-last")).to_have_text(
        re.compile(
            r"^Last sync succeeded at \d.*: 3 new deals, 5 updated, "
            r"1 restarted after a HubSpot change, 2 rejected\.$"
        )
    )
    expect(strip.locator("#sync-next")).to_have_text(
        re.compile(r"^Next sync due at \d.* \(every 5 minutes\)\.$")
    )
    expect(page.locator("#sync-banner")).to_be_hidden()

    _sync_run("failed", 0, error="HubSpot refused the access token; check HUBSPOT_ACCESS_TOKEN")
    page.reload()

    banner = page.locator("#sync-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_text(
        re.compile(
            r"^HubSpot sync is failing\. The last sync failed: HubSpot refused the access token; "
            r"check HUBSPOT_ACCESS_TOKEN\. New deals and changes from HubSpot are not coming in\. "
            r"The last successful sync finished at "
        )
    )
    expect(strip.locator("#sync-last")).to_have_text(re.compile(r"^Last sync failed at "))
    page.screenshot(path=ARTIFACTS / "queue-sync-failing.png")


# ------------------------------------------------------------------------------ bulk actions
@browser_test
@pytest.mark.usefixtures("operator")
def test_bulk_actions_by_filter_confirm_with_the_count_and_say_what_started(page):
    at_intake = DealFactory.create_batch(3, status="failed", current_stage="intake")
    DealFactory.create(status="failed", current_stage="appraisal")
    DealFactory.create(status="done", current_stage="done")
    log_in(page)

    bulk = page.get_by_role("group", name="Bulk actions on the deals these filters select")
    expect(bulk).to_be_hidden()  # nothing is offered for "everything"

    page.get_by_label("Stage", exact=True).select_option("intake")
    retry_all = bulk.get_by_role("button", name="Retry all 3 failed")
    expect(retry_all).to_be_enabled()
    expect(bulk.get_by_role("button", name="Re-run all 3")).to_be_enabled()

    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    retry_all.click()

    expect(bulk.get_by_role("status")).to_have_text(
        "Retry started for 3 deals, ahead of the backlog."
    )
    assert questions[0].startswith("Retry all 3 failed deals these filters select?")
    assert set(
        Deal.objects.filter(id__in=[d.id for d in at_intake]).values_list("status", flat=True)
    ) == {"pending"}
    # Nothing failed is left here now: the button says so, and why it is off.
    retry_none = bulk.get_by_role("button", name="Retry all 0 failed")
    expect(retry_none).to_be_disabled()
    expect(retry_none).to_have_attribute("title", "No failed deal matches these filters.")

    page.get_by_label("Search", exact=True).fill("nothing like this")
    expect(bulk.get_by_role("button", name="Re-run all 0")).to_be_disabled()
    page.screenshot(path=ARTIFACTS / "queue-bulk.png")
