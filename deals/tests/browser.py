"""Browser test support: Debian's Chromium through Playwright, against the live server.

The fixtures (`browser`, `page`) are in deals/tests/conftest.py; tests wait on conditions
(Playwright's expect, with timeouts), never on fixed sleeps.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
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
