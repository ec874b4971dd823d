"""The queue page at /queue/: who may see it, and, in a real Chromium, what operators do on
its table (the drawer: test_queue_page_drawer; the strips and bulk actions:
test_queue_page_strips).

The browser tests run the whole stack: Django on pytest-django's live server, real Celery
worker processes on the test database and Redis, Debian's Chromium through Playwright.
They wait on conditions (Playwright's expect, with timeouts), never on fixed sleeps; where
they must show that nothing happens (Live off), they drive the page's clock instead.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from deals.models import Deal
from deals.tests.browser import (
    ARTIFACTS,
    SLOW_STAGES,
    browser_test,
    dots,
    enqueue,
    log_in,
    processed,
    row,
)
from deals.tests.factories import DealFactory
from vcc.testing import role_user

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
    client.force_login(role_user("operator", "operator"))

    html = client.get("/queue/").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert sorted(assets) == [
        "/static/deals/insights.js",
        "/static/deals/queue.css",
        "/static/deals/queue.js",
        "/static/vendor/uplot/uPlot.min.css",  # vendored, with its license
    ]
    assert 'data-page-url="/api/queue/deals/"' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert 'data-allowed-actions="rerun retry"' in html


@pytest.mark.django_db
def test_a_viewer_gets_the_page_with_no_action_allowed_and_others_are_told_what_they_lack(
    client, django_user_model
):
    client.force_login(role_user("vera", "viewer"))
    as_viewer = client.get("/queue/").content.decode()
    client.force_login(django_user_model.objects.create_user("nobody", is_staff=True))
    as_nobody = client.get("/queue/")

    assert 'data-allowed-actions=""' in as_viewer
    assert as_nobody.status_code == 403
    assert "lacks the permission deals.view_deal" in as_nobody.content.decode()


# ------------------------------------------------------------------------------ the browser
@browser_test
@pytest.mark.worker
@pytest.mark.usefixtures("operator")
def test_an_operator_logs_in_and_watches_a_deal_go_from_pending_to_done(page, celery_worker):
    celery_worker(concurrency=2, env=SLOW_STAGES)
    earlier = processed(name="Earlier Ltd")

    log_in(page)

    expect(row(page, earlier)).to_be_visible()
    expect(row(page, earlier).locator(".pill")).to_have_text("done")
    # A done deal: a green dot per step and how long it took (not hollow dots and "—").
    assert dots(page, earlier) == ["succeeded"] * 4
    expect(row(page, earlier).locator("td.duration")).to_have_text(TOOK)
    expect(page.get_by_role("switch", name="Live")).to_be_checked()
    expect(page.locator("#last-updated")).to_have_text(re.compile(r"Last updated \d"))

    arriving = DealFactory.create(name="Arriving Co")
    expect(row(page, arriving).locator(".pill")).to_have_text("pending")  # the next poll
    assert dots(page, arriving) == ["pending"] * 4

    enqueue(arriving)

    expect(row(page, arriving).locator(".pill")).to_have_text("running", timeout=30_000)
    expect(row(page, arriving).locator(".pill")).to_have_text("done", timeout=30_000)
    assert dots(page, arriving) == ["succeeded"] * 4
    expect(row(page, arriving).locator("td.duration")).to_have_text(TOOK)
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", str(arriving.id))
    expect(row(page, arriving).locator(".dot").first).to_have_attribute(
        "title", re.compile(r"^intake: succeeded \(started .+, ended .+\)$")
    )
    expect(page.locator("#count-done")).to_have_text("2", timeout=30_000)  # every 5th poll
    expect(row(page, arriving).locator("td.updated")).to_have_text(re.compile(r"updated \d+ s ago"))
    page.screenshot(path=ARTIFACTS / "queue-page.png", full_page=True)


@browser_test
@pytest.mark.usefixtures("operator")
def test_filters_and_search_narrow_the_rows_and_stay_in_the_url(page):
    roof = DealFactory.create(name="Acme Roof", status="failed", current_stage="appraisal")
    windows = DealFactory.create(name="Acme Windows")
    bolt = DealFactory.create(name="Bolt Inc", status="done", current_stage="done")
    log_in(page)
    expect(page.locator("#rows tr")).to_have_count(3)

    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, roof)).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?status=failed$"))

    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Search", exact=True).fill("acme")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"\?q=acme$"))
    page.get_by_label("Stage", exact=True).select_option("appraisal")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, roof)).to_be_visible()
    assert not row(page, windows).count()

    page.get_by_label("Search", exact=True).fill(bolt.hubspot_deal_id[:-1] + "x")
    expect(page.locator("#rows tr")).to_have_count(0)
    expect(page.get_by_text("No deals match these filters.")).to_be_visible()

    # A shared link opens the same view.
    page.goto("/queue/?status=done")
    expect(page.get_by_label("Status", exact=True)).to_have_value("done")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, bolt)).to_be_visible()


@browser_test
@pytest.mark.usefixtures("operator")
def test_the_hubspot_filter_shows_deleted_and_merged_deals_with_a_badge_counted_apart(page):
    survivor = DealFactory.create(hubspot_deal_id="8100001", name="Survivor", status="done")
    gone = DealFactory.create(name="Gone Ltd", status="failed", hubspot_state="archived")
    absorbed = DealFactory.create(name="Absorbed", hubspot_state="merged", merged_into=survivor)
    log_in(page)

    # Active deals by default: the others are only counted, apart from the statuses.
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, survivor)).to_be_visible()
    expect(row(page, survivor).locator(".badge")).to_have_count(0)
    expect(page.locator("#count-total")).to_have_text("1")
    expect(page.locator("#count-failed")).to_have_text("0")
    expect(page.locator("#count-archived")).to_have_text("1")
    expect(page.locator("#count-merged")).to_have_text("1")

    page.get_by_label("In HubSpot", exact=True).select_option("all")
    expect(page.locator("#rows tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"\?hubspot_state=all$"))
    expect(row(page, gone).locator(".badge")).to_have_text("deleted in HubSpot")
    expect(row(page, absorbed).locator(".badge")).to_have_text("merged into 8100001")
    page.screenshot(path=ARTIFACTS / "queue-hubspot-states.png")

    page.get_by_label("In HubSpot", exact=True).select_option("archived")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, gone)).to_be_visible()
    page.reload()  # the view is in the URL
    expect(page.get_by_label("In HubSpot", exact=True)).to_have_value("archived")
    expect(page.locator("#rows tr")).to_have_count(1)


@browser_test
@pytest.mark.usefixtures("operator")
def test_load_more_follows_next_before_to_the_last_deal(page):
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=f"61{n:04d}", name=f"Bulk {n}") for n in range(260)
    )
    Deal.objects.update(updated_at=timezone.now())  # one bulk upsert: all tied
    log_in(page)
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
    log_in(page)
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


@browser_test
@pytest.mark.usefixtures("operator")
def test_every_control_is_labelled_and_reachable_by_keyboard(page):
    deal = DealFactory.create(name="Keyboard Co")
    log_in(page)
    expect(row(page, deal)).to_be_visible()

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
    log_in(page)
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
        expect(row(page, deal)).to_be_visible()
    page.screenshot(path=ARTIFACTS / "queue-api-down.png")

    page.unroute("**/api/queue/**")
    expect(banner).to_be_hidden()

    page.route("**/api/queue/**", lambda route: route.abort())
    expect(banner).to_have_text(re.compile(r"the server cannot be reached; check the connection"))
    page.unroute("**/api/queue/**")
    expect(banner).to_be_hidden()
