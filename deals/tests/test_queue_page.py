"""The queue page at /queue/: who may see it, and, in a real Chromium, what operators do on it.

The browser tests run the whole stack: Django on pytest-django's live server, real Celery
worker processes on the test database and Redis, Debian's Chromium through Playwright.
They wait on conditions (Playwright's expect, with timeouts), never on fixed sleeps; where
they must show that nothing happens (Live off), they drive the page's clock instead.
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect

from deals.models import Deal
from deals.pipeline import deal_process
from deals.services import deal_enqueue
from deals.tests.browser import ARTIFACTS, browser_test
from deals.tests.browser import log_in as _log_in
from deals.tests.factories import DealFactory, PipelinePassFactory, PipelineRunFactory
from hubspot.models import SyncRun

# Slow enough stages that a poll every 2 s sees a deal running (6 stages: 6 s).
SLOW_STAGES = {"PIPELINE_DEMO_STAGE_SECONDS": "1"}
TOOK = re.compile(r"^\d+(\.\d)? m?s$|^\d+ m \d\d s$")  # the duration column: "12 ms", "6.1 s"


# ------------------------------------------------------------------------------ the view
@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/queue/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/queue/"


@pytest.mark.django_db
def test_a_user_who_is_not_staff_is_refused_with_a_page_that_says_why(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor"))

    response = client.get("/queue/")

    assert response.status_code == 403
    assert "visitor, which is not a staff account" in response.content.decode()


@pytest.mark.django_db
def test_staff_get_the_page_with_its_script_and_styles_from_this_site(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("operator", is_staff=True))

    html = client.get("/queue/").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert sorted(assets) == ["/static/deals/queue.css", "/static/deals/queue.js"]
    assert 'data-page-url="/api/queue/deals/"' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


# ------------------------------------------------------------------------------ the browser
@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("operator", password="pw", is_staff=True)


def _row(page: Page, deal: Deal):
    return page.locator(f'#rows tr[data-id="{deal.id}"]')


def _dots(page: Page, deal: Deal) -> list[str | None]:
    return [dot.get_attribute("data-status") for dot in _row(page, deal).locator(".dot").all()]


def _processed(**fields) -> Deal:
    deal = DealFactory.create(**fields)
    deal_process(deal_id=deal.id)  # in this process: no demo pause, done at once
    deal.refresh_from_db()
    return deal


def _enqueue(deal: Deal) -> None:
    deal_enqueue(deal_id=deal.id, hubspot_deal_id=deal.hubspot_deal_id, reason="test")


@browser_test
@pytest.mark.worker
@pytest.mark.usefixtures("operator")
def test_an_operator_logs_in_and_watches_a_deal_go_from_pending_to_done(page, celery_worker):
    celery_worker(concurrency=2, env=SLOW_STAGES)
    earlier = _processed(name="Earlier Ltd")

    _log_in(page)

    expect(_row(page, earlier)).to_be_visible()
    expect(_row(page, earlier).locator(".pill")).to_have_text("done")
    # A done deal: a green dot per step and how long it took (not hollow dots and "—").
    assert _dots(page, earlier) == ["succeeded"] * 4
    expect(_row(page, earlier).locator("td.duration")).to_have_text(TOOK)
    expect(page.get_by_role("switch", name="Live")).to_be_checked()
    expect(page.locator("#last-updated")).to_have_text(re.compile(r"Last updated \d"))

    arriving = DealFactory.create(name="Arriving Co")
    expect(_row(page, arriving).locator(".pill")).to_have_text("pending")  # the next poll
    assert _dots(page, arriving) == ["pending"] * 4

    _enqueue(arriving)

    expect(_row(page, arriving).locator(".pill")).to_have_text("running", timeout=30_000)
    expect(_row(page, arriving).locator(".pill")).to_have_text("done", timeout=30_000)
    assert _dots(page, arriving) == ["succeeded"] * 4
    expect(_row(page, arriving).locator("td.duration")).to_have_text(TOOK)
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", str(arriving.id))
    expect(_row(page, arriving).locator(".dot").first).to_have_attribute(
        "title", re.compile(r"^intake: succeeded \(started .+, ended .+\)$")
    )
    expect(page.locator("#count-done")).to_have_text("2", timeout=30_000)  # every 5th poll
    expect(_row(page, arriving).locator("td.updated")).to_have_text(
        re.compile(r"updated \d+ s ago")
    )
    page.screenshot(path=ARTIFACTS / "queue-page.png", full_page=True)


@browser_test
@pytest.mark.usefixtures("operator")
def test_filters_and_search_narrow_the_rows_and_stay_in_the_url(page):
    roof = DealFactory.create(name="Acme Roof", status="failed", current_stage="appraisal")
    windows = DealFactory.create(name="Acme Windows")
    bolt = DealFactory.create(name="Bolt Inc", status="done", current_stage="done")
    _log_in(page)
    expect(page.locator("#rows tr")).to_have_count(3)

    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(_row(page, roof)).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?status=failed$"))

    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Search", exact=True).fill("acme")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"\?q=acme$"))
    page.get_by_label("Stage", exact=True).select_option("appraisal")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(_row(page, roof)).to_be_visible()
    assert not _row(page, windows).count()

    page.get_by_label("Search", exact=True).fill(bolt.hubspot_deal_id[:-1] + "x")
    expect(page.locator("#rows tr")).to_have_count(0)
    expect(page.get_by_text("No deals match these filters.")).to_be_visible()

    # A shared link opens the same view.
    page.goto("/queue/?status=done")
    expect(page.get_by_label("Status", exact=True)).to_have_value("done")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(_row(page, bolt)).to_be_visible()


@browser_test
@pytest.mark.usefixtures("operator")
def test_load_more_follows_next_before_to_the_last_deal(page):
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=f"61{n:04d}", name=f"Bulk {n}") for n in range(260)
    )
    Deal.objects.update(updated_at=timezone.now())  # one bulk upsert: all tied
    _log_in(page)
    expect(page.locator("#rows tr")).to_have_count(50)

    # Up to 200 rows the live poll just asks for more; past that, pages follow next_before.
    for shown in (100, 150, 200, 250, 260):
        page.get_by_role("button", name="Load more").click()
        expect(page.locator("#rows tr")).to_have_count(shown)

    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    ids = page.locator("#rows tr").evaluate_all("rows => rows.map(row => row.dataset.id)")
    assert sorted(ids) == sorted(str(pk) for pk in Deal.objects.values_list("id", flat=True))


def _set_visibility(page: Page, state: str) -> None:
    """Act as if the tab were hidden or shown again (headless tabs are always visible)."""
    page.evaluate(
        """state => {
          Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


@browser_test
@pytest.mark.usefixtures("operator")
def test_live_off_pauses_polling_and_a_hidden_tab_does_not_poll(page):
    DealFactory.create()
    page.clock.install()  # the page's timers run only when the test moves its clock
    page.add_init_script(
        """
        window.queueFetches = 0;
        const realFetch = window.fetch;
        window.fetch = (url, ...rest) => {
          if (String(url).includes("/api/queue/deals/")) window.queueFetches++;
          return realFetch(url, ...rest);
        };
        """
    )
    _log_in(page)
    expect(page.locator("#rows tr")).to_have_count(1)
    fetches = lambda: page.evaluate("window.queueFetches")  # noqa: E731

    start = fetches()
    page.clock.run_for(2_100)
    assert fetches() == start + 1  # Live: one poll per 2 s

    page.get_by_role("switch", name="Live").uncheck()
    page.clock.run_for(20_000)
    assert fetches() == start + 1  # off: paused

    page.get_by_role("switch", name="Live").check()
    assert fetches() == start + 2  # on again: at once
    _set_visibility(page, "hidden")
    page.clock.run_for(20_000)
    assert fetches() == start + 2  # a hidden tab does not poll
    _set_visibility(page, "visible")
    assert fetches() == start + 3  # back in view: at once


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
    deal = _processed(name="Rerun Me")
    DealFactory.create(name="Someone Else")
    _log_in(page)

    _row(page, deal).locator("td.name").click()

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
    expect(_row(page, deal).locator(".pill")).to_have_text("running", timeout=30_000)
    expect(_row(page, deal).locator(".where")).to_have_text(
        re.compile("^(intake|segmentation|categorization|appraisal|review|done)$")
    )
    # While it runs, neither action is offered.
    expect(drawer.get_by_role("button", name="Re-run from scratch")).to_be_disabled(timeout=30_000)
    expect(drawer.locator("#action-reason")).to_have_text(
        "The deal is being processed; wait until it has finished."
    )
    expect(_row(page, deal).locator(".pill")).to_have_text("done", timeout=30_000)
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
    _log_in(page)

    # The running row says where the deal is, by name.
    expect(_row(page, running).locator("td.status")).to_have_text("running review")
    expect(_row(page, failed).locator("td.status")).to_have_text("failed appraisal")

    page.goto(f"/queue/?deal={running.id}")
    drawer = page.get_by_role("dialog")
    busy = "The deal is being processed; wait until it has finished."
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


@browser_test
@pytest.mark.usefixtures("operator")
def test_every_control_is_labelled_and_reachable_by_keyboard(page):
    deal = DealFactory.create(name="Keyboard Co")
    _log_in(page)
    expect(_row(page, deal)).to_be_visible()

    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    assert {"live", "f-status", "f-stage", "f-q", deal.hubspot_deal_id} <= set(reached)

    page.get_by_role("link", name=re.compile(f"Open deal {deal.hubspot_deal_id}")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    # A pending deal: it can be re-run; the retry button is disabled, so Tab skips it.
    expect(page.get_by_role("button", name="Re-run from scratch")).to_be_enabled()
    expect(page.locator("#drawer-title")).to_be_focused()
    for name in ["Close the deal details", "Re-run from scratch"]:
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name=name)).to_be_focused()
    expect(page.get_by_role("button", name="Retry failed stage")).to_be_disabled()

    # Every control has an accessible name (an unnamed one shows as a bare role).
    tree = page.locator("body").aria_snapshot()
    unnamed = re.findall(
        r"- (?:button|link|checkbox|switch|combobox|searchbox|textbox)\s*(?:\[|$)", tree, re.M
    )
    assert unnamed == [], tree

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page).not_to_have_url(re.compile("deal="))
    expect(
        page.get_by_role("link", name=re.compile(f"Open deal {deal.hubspot_deal_id}"))
    ).to_be_focused()


@browser_test
@pytest.mark.usefixtures("operator")
def test_when_the_api_fails_a_banner_says_so_and_the_last_rows_stay(page):
    deals = DealFactory.create_batch(2)
    _log_in(page)
    expect(page.locator("#rows tr")).to_have_count(2)
    banner = page.locator("#banner")

    page.route("**/api/queue/**", lambda route: route.fulfill(status=500, body="down"))
    expect(banner).to_have_text(
        re.compile(
            r"^Cannot refresh the queue: the server had a problem; it may pass in a moment\. "
            r"Showing data from \d"
        )
    )
    assert "500" not in banner.inner_text()
    expect(page.locator("#rows tr")).to_have_count(2)
    for deal in deals:
        expect(_row(page, deal)).to_be_visible()
    page.screenshot(path=ARTIFACTS / "queue-api-down.png")

    page.unroute("**/api/queue/**")
    expect(banner).to_be_hidden()

    page.route("**/api/queue/**", lambda route: route.abort())
    expect(banner).to_have_text(re.compile(r"the server cannot be reached; check the connection"))
    page.unroute("**/api/queue/**")
    expect(banner).to_be_hidden()


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
    _sync_run("succeeded", 1, new=3, updated=5, rerun=1, invalid=2)
    _log_in(page)

    strip = page.get_by_role("region", name="Ingestion from HubSpot")
    expect(strip.locator("#sync-last")).to_have_text(
        re.compile(
            r"^Last sync succeeded at \d.*: 3 new deals, 5 updated, "
            r"1 re-run after a change, 2 rejected\.$"
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
    _log_in(page)

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
