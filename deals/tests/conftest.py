from collections.abc import Callable, Iterator

import pytest

from deals import stages


@pytest.fixture
def use_stage(monkeypatch) -> Callable[[str, stages.StageFunction], None]:
    """Swap a stage's implementation for this test only."""

    def use(stage: str, function: stages.StageFunction) -> None:
        monkeypatch.setitem(stages._registry, stage, function)

    return use


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, one per test module."""
    from playwright.sync_api import sync_playwright

    from deals.tests.browser import CHROMIUM_ARGS

    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse
    # ORM calls from it ("async context"); the tests are synchronous, so that is safe.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def page(browser, live_server, settings) -> Iterator:
    """A fresh tab 1400 px wide on the live server; the test fails if the page script threw."""
    # The live server speaks plain HTTP: cookies marked Secure would not be sent back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], "the page script threw"
