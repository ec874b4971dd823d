"""The queue page's deal drawer, in a real Chromium: opened by a click or a link, its
timeline of passes and runs, and its actions with their reasons (see test_queue_page)."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.models import Deal
from deals.tests.browser import ARTIFACTS, SLOW_STAGES, browser_test, log_in, processed, row
from deals.tests.factories import DealFactory, PipelinePassFactory, PipelineRunFactory
from vcc.testing import role_user


def _passes(page: Page) -> list[list]:
    """The drawer's timeline: each pass's trigger, with the stages of its runs."""
    return page.locator("#timeline li.pass").evaluate_all(
        """passes => passes.map(p => [p.dataset.trigger,
             [...p.querySelectorAll("li.run")].map(r => r.dataset.stage)])"""
    )


@browser_test
@pytest.mark.worker
@pytest.mark.usefixtures("operator")
def test_the_drawer_opens_by_click_and_by_url_and_a_rerun_runs_the_deal_again(page, celery_worker):
    celery_worker(concurrency=1, env=SLOW_STAGES)
    deal = processed(name="Rerun Me")
    DealFactory.create(name="Someone Else")
    log_in(page)

    row(page, deal).locator("td.name").click()

    drawer = page.get_by_role("dialog")
    expect(drawer).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]deal={deal.id}"))
    expect(drawer.get_by_role("heading", level=2)).to_have_text(f"{deal.hubspot_deal_id} Rerun Me")
    expect(drawer.locator("#timeline li.run")).to_have_count(6)  # review and done included
    stages = ["intake", "segmentation", "categorization", "appraisal", "review", "done"]
    assert _passes(page) == [["new", stages]]
    expect(drawer.locator(".pass-head")).to_have_text(
        re.compile(r"^New from HubSpot · from intake")
    )
    page.screenshot(path=ARTIFACTS / "queue-drawer.png")

    # A done deal cannot be retried: the button says so before anyone clicks.
    retry = drawer.get_by_role("button", name="Retry failed stage")
    expect(retry).to_be_disabled()
    reason = "The deal is done; only a failed deal can be retried."
    expect(retry).to_have_attribute("title", reason)
    expect(page.locator("#retry-wrap")).to_have_attribute("title", reason)

    # Confirm first: dismissing sends nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    drawer.get_by_role("button", name="Re-run from scratch").click()
    expect(drawer.get_by_role("status")).to_have_text("")
    assert Deal.objects.get(id=deal.id).status == "done"

    page.once("dialog", lambda dialog: dialog.accept())
    drawer.get_by_role("button", name="Re-run from scratch").click()
    expect(drawer.get_by_role("status")).to_have_text(
        "Re-run started: the deal starts again at intake, ahead of the backlog."
    )
    expect(row(page, deal).locator(".pill")).to_have_text("running", timeout=30_000)
    expect(row(page, deal).locator(".where")).to_have_text(
        re.compile("^(intake|segmentation|categorization|appraisal|review|done)$")
    )
    # While it runs, neither action is offered.
    expect(drawer.get_by_role("button", name="Re-run from scratch")).to_be_disabled(timeout=30_000)
    expect(drawer.locator("#action-reason")).to_have_text(
        "The deal is being processed; try again when it has finished."
    )
    expect(row(page, deal).locator(".pill")).to_have_text("done", timeout=30_000)
    expect(drawer.locator("#timeline li.run")).to_have_count(12)
    # The new pass on top, saying who asked; the first one below it.
    assert _passes(page) == [["rerun", stages], ["new", stages]]
    expect(drawer.locator(".pass-head").first).to_have_text(
        re.compile(r"^Operator re-run by operator · from intake · ")
    )
    assert not re.search(r"HTTP|\((?:202|409)\)", drawer.inner_text())  # no status codes

    # The same drawer from a shared link.
    other = page.context.new_page()
    other.goto(f"/queue/?deal={deal.id}")
    expect(other.get_by_role("dialog")).to_be_visible()
    expect(other.locator("#timeline li.run")).to_have_count(12)
    # A link to a deal that is not there says so in the drawer; the table is fine.
    other.goto(f"/queue/?deal={uuid.uuid4()}")
    expect(other.locator("#drawer-error")).to_have_text(
        "Cannot load this deal: there is no deal with this id."
    )
    expect(other.locator("#rows tr")).to_have_count(2)
    expect(other.locator("#banner")).to_be_hidden()
    other.close()


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_buttons_match_the_deals_state_and_say_what_happened_in_plain_words(page):
    running = PipelinePassFactory.create(deal__status="running", deal__current_stage="review").deal
    PipelineRunFactory.create(deal=running, stage="review", status="running", ended_at=None)
    failed = PipelinePassFactory.create(deal__status="failed", deal__current_stage="appraisal").deal
    PipelineRunFactory.create(
        deal=failed, stage="appraisal", status="failed", error="no comparables"
    )
    log_in(page)

    # The running row says where the deal is, by name.
    expect(row(page, running).locator("td.status")).to_have_text("running review")
    expect(row(page, failed).locator("td.status")).to_have_text("failed appraisal")

    page.goto(f"/queue/?deal={running.id}")
    drawer = page.get_by_role("dialog")
    busy = "The deal is being processed; try again when it has finished."
    for name in ("Re-run from scratch", "Retry failed stage"):
        expect(drawer.get_by_role("button", name=name)).to_be_disabled()
        expect(drawer.get_by_role("button", name=name)).to_have_attribute("title", busy)
    expect(drawer.locator("#action-reason")).to_have_text(busy)

    page.goto(f"/queue/?deal={failed.id}")
    retry = drawer.get_by_role("button", name="Retry failed stage")
    expect(retry).to_be_enabled()
    expect(retry).to_have_attribute("title", "Resume at appraisal, ahead of the backlog.")
    # Someone else retried it meanwhile (the page has not polled since: Live is off): the
    # refusal comes in the service's own words, and the drawer catches up.
    live = page.get_by_role("switch", name="Live")
    live.dispatch_event("click")  # under the drawer: clicked the way a keyboard would
    expect(live).not_to_be_checked()
    Deal.objects.filter(id=failed.id).update(status="pending")
    page.once("dialog", lambda dialog: dialog.accept())
    retry.click()
    expect(drawer.get_by_role("status")).to_have_text(
        "The deal is waiting for a worker; only a failed deal can be retried."
    )
    expect(retry).to_be_disabled()

    Deal.objects.filter(id=failed.id).update(status="failed")
    live.dispatch_event("click")
    expect(retry).to_be_enabled()
    page.once("dialog", lambda dialog: dialog.accept())
    retry.click()
    expect(drawer.get_by_role("status")).to_have_text(
        "Retry started: the deal resumes at appraisal, ahead of the backlog."
    )
    retried = Deal.objects.get(id=failed.id).current_pass
    assert retried is not None
    assert retried.requested_by == "operator"
    page.screenshot(path=ARTIFACTS / "queue-buttons.png")


def _fact(page: Page, term: str):
    """The drawer's value for this term (its <dd>)."""
    return page.locator(f'#drawer-facts dt:text-is("{term}") + dd')


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_drawer_says_where_a_deal_went_in_hubspot_and_links_the_deals_of_a_merge(page):
    at = timezone.now() - timedelta(hours=3)
    survivor = DealFactory.create(hubspot_deal_id="8200001", name="Survivor")
    first, second = (
        DealFactory.create(
            hubspot_deal_id=hubspot_deal_id,
            hubspot_state="merged",
            hubspot_state_at=at + timedelta(minutes=minutes),
            merged_into=survivor,
            status="failed",
        )
        for hubspot_deal_id, minutes in (("8200002", 0), ("8200003", 1))
    )
    PipelineRunFactory.create(deal=first, stage="intake", status="failed", error="no amount")
    gone = DealFactory.create(hubspot_state="archived", hubspot_state_at=at, status="failed")
    log_in(page, path=f"/queue/?deal={first.id}")

    drawer = page.get_by_role("dialog")
    expect(_fact(page, "In HubSpot")).to_have_text(re.compile(r"^merged into 8200001 on \d"))
    # Nothing to start for a deal HubSpot merged away: both buttons say why.
    reason = "The deal was merged into 8200001 in HubSpot; act on that one."
    for name in ("Re-run from scratch", "Retry failed stage"):
        expect(drawer.get_by_role("button", name=name)).to_be_disabled()
        expect(drawer.get_by_role("button", name=name)).to_have_attribute("title", reason)
    expect(drawer.locator("#timeline li.run")).to_have_count(1)  # its own runs, readable

    # The survivor's drawer, in place, lists the deals merged into it, in merge order.
    _fact(page, "In HubSpot").get_by_role("link", name="8200001").click()
    expect(drawer.get_by_role("heading", level=2)).to_have_text("8200001 Survivor")
    expect(page).to_have_url(re.compile(rf"[?&]deal={survivor.id}"))
    expect(_fact(page, "In HubSpot")).to_have_text("active")
    expect(_fact(page, "Merged from")).to_have_text("8200002, 8200003")
    expect(drawer.get_by_role("button", name="Re-run from scratch")).to_be_enabled()
    page.screenshot(path=ARTIFACTS / "queue-drawer-merged.png")

    _fact(page, "Merged from").get_by_role("link", name="8200003").click()
    expect(drawer.get_by_role("heading", level=2)).to_have_text(re.compile(r"^8200003 "))
    expect(page).to_have_url(re.compile(rf"[?&]deal={second.id}"))

    page.goto(f"/queue/?deal={gone.id}")
    expect(_fact(page, "In HubSpot")).to_have_text(re.compile(r"^deleted in HubSpot on \d"))
    expect(drawer.get_by_role("button", name="Retry failed stage")).to_have_attribute(
        "title", "The deal was deleted in HubSpot; restore it there first."
    )


@browser_test
@pytest.mark.usefixtures("operator")
def test_a_runs_output_parameters_and_log_lines_open_from_the_timeline(page, use_stage):
    def segmentation(context):
        context.log.info("banding %s", context.deal.amount)
        context.log.warning("no band above enterprise")
        return {"segment": "mid", "comparables": [f"deal {n}" for n in range(300)]}

    use_stage("segmentation", segmentation, version="2.1", params={"bands": [0, 10_000]})
    deal = processed(name="Explain Me", amount=Decimal("20000"), deal_stage="contractsent")
    log_in(page, path=f"/queue/?deal={deal.id}")
    drawer = page.get_by_role("dialog")
    appraisal = drawer.locator('li.run[data-stage="appraisal"]')

    toggle = appraisal.get_by_role("button", name="Output and log")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard first: it is a button

    detail = appraisal.get_by_role("region", name="appraisal attempt 1: output and log")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(detail.locator(".run-version")).to_have_text("appraisal version 1")
    output = detail.get_by_label("Output", exact=True)
    expect(output).to_contain_text('"figure": "16000.00"')
    expect(output).to_contain_text('"confidence": 0.8')
    expect(detail.get_by_label("Parameters")).to_contain_text('"likelihood": {')
    lines = detail.locator("li.log-line")
    expect(lines).to_have_count(1)
    expect(lines.locator(".log-message")).to_have_text(
        "20000.00 x 0.8 (committed) = 16000.00; confidence 0.8 (mid)"
    )
    expect(lines.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))

    # Another run's detail: a long output scrolls in its box, reachable by keyboard.
    segmentation_run = drawer.locator('li.run[data-stage="segmentation"]')
    segmentation_run.get_by_role("button", name="Output and log").click()
    long_output = segmentation_run.get_by_label("Output", exact=True)
    expect(long_output).to_contain_text('"deal 299"')
    assert long_output.evaluate("box => box.scrollHeight > box.clientHeight + 100")
    assert long_output.get_attribute("tabindex") == "0"
    expect(segmentation_run.locator(".run-version")).to_have_text("segmentation version 2.1")
    expect(segmentation_run.get_by_label("Parameters")).to_contain_text('"bands"')
    expect(segmentation_run.locator("li.log-warning .log-message")).to_have_text(
        "no band above enterprise"
    )
    appraisal.scroll_into_view_if_needed()
    # The drawer's own picture: a page screenshot leaves its scrolling boxes blank.
    drawer.screenshot(path=ARTIFACTS / "queue-drawer-run-detail.png")

    # Closing it hides it; the drawer's next poll (a change to the deal) keeps open what was.
    segmentation_run.get_by_role("button", name="Output and log").click()
    expect(segmentation_run.locator(".run-detail")).to_be_hidden()
    Deal.objects.filter(id=deal.id).update(name="Explained", updated_at=timezone.now())
    expect(drawer.get_by_role("heading", level=2)).to_have_text(re.compile(r"Explained$"))
    expect(appraisal.get_by_label("Output", exact=True)).to_contain_text('"figure"')
    expect(segmentation_run.locator(".run-detail")).to_be_hidden()


def test_a_viewer_sees_the_deal_without_any_button_to_start_it(page, django_user_model):
    role_user("vera", "viewer", password="pw")
    deal = DealFactory.create(name="Look Only", status="failed", current_stage="appraisal")
    log_in(page, path=f"/queue/?status=failed&deal={deal.id}", username="vera")

    drawer = page.get_by_role("dialog")
    expect(drawer.get_by_role("heading", level=2)).to_have_text(f"{deal.hubspot_deal_id} Look Only")

    expect(drawer.get_by_role("button", name="Re-run from scratch")).to_have_count(0)
    expect(drawer.get_by_role("button", name="Retry failed stage")).to_have_count(0)
    expect(page.locator("#bulk")).to_be_hidden()  # a filter is set: an operator has it
    expect(page.locator("#rows tr")).to_have_count(1)
