"""Browser test support: Debian's Chromium through Playwright, against the live server.

The fixtures (`browser`, `page`) are in deals/tests/conftest.py; tests wait on conditions
(Playwright's expect, with timeouts), never on fixed sleeps.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from deals.models import Deal
from deals.pipeline import deal_process
from deals.services import deal_enqueue
from deals.tests.factories import DealFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
# Slow enough stages that a poll every 2 s sees a deal running (6 stages: 6 s).
SLOW_STAGES = {"PIPELINE_DEMO_STAGE_SECONDS": "1"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_test(test):
    """A test in Chromium against the live server (which needs committed data)."""
    return pytest.mark.browser(pytest.mark.django_db(transaction=True)(test))


def log_in(page: Page, *, path: str = "/queue/", username: str = "operator") -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path)))
    # The page's script is deferred: it runs before DOMContentLoaded and sets the filters
    # from the URL, so a filter chosen before then would be undone.
    page.wait_for_load_state("domcontentloaded")


def row(page: Page, deal: Deal):
    """The queue table's row of this deal."""
    return page.locator(f'#rows tr[data-id="{deal.id}"]')


def dots(page: Page, deal: Deal) -> list[str | None]:
    """The statuses of the deal's progress dots, in pipeline order."""
    return [dot.get_attribute("data-status") for dot in row(page, deal).locator(".dot").all()]


def processed(**fields) -> Deal:
    """A deal run through the pipeline in this process: no demo pause, done at once."""
    deal = DealFactory.create(**fields)
    deal_process(deal_id=deal.id)
    deal.refresh_from_db()
    return deal


def enqueue(deal: Deal) -> None:
    deal_enqueue(deal_id=deal.id, hubspot_deal_id=deal.hubspot_deal_id, reason="test")
