from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from deals import stages
from deals.models import Deal
from deals.selectors import deal_counts
from deals.services import deal_enqueue
from deals.tests.factories import DealFactory
from vcc.testing import role_user, wait_until


@pytest.fixture
def use_stage(monkeypatch) -> Callable[..., None]:
    """Swap a stage's implementation for this test only: use_stage(name, function,
    version="test", params=None); the function takes a StageContext."""

    def use(
        stage: str,
        function: stages.StageFunction,
        *,
        version: str = "test",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        registered = stages.registered_stage(stage, function, version=version, params=params)
        monkeypatch.setitem(stages._registry, stage, registered)

    return use


@pytest.fixture
def api(django_user_model) -> APIClient:
    """An operator's API client authenticated without a query, so the queries a test counts
    are the endpoint's own."""
    client = APIClient()
    robot = role_user("robot", "operator")
    robot.get_all_permissions()  # read once, on this object: the queries counted are the page's
    client.force_authenticate(robot)
    return client


@pytest.fixture
def failed_in_three_states() -> dict[str, Deal]:
    """A failed deal active in HubSpot, one deleted there, one merged into another."""
    survivor = DealFactory.create(status="done", current_stage="done")
    return {
        state: DealFactory.create(
            status="failed",
            current_stage="appraisal",
            hubspot_state=state,
            merged_into=survivor if state == "merged" else None,
        )
        for state in ("active", "archived", "merged")
    }


@dataclass(frozen=True)
class StageRun:
    """What one stage's call gave: its output as a run stores it, and its log."""

    output: Any
    truncated: bool
    log: stages.RunLog


@pytest.fixture
def run_stage() -> Callable[..., StageRun]:
    """Run one registered stage against a deal, as the runner calls it, without recording a
    run: run_stage("segmentation", deal, outputs={"intake": {...}}). Raises what the stage
    raises (StageError, RetryableStageError)."""

    def run(stage: str, deal: Deal, *, outputs: Mapping[str, Any] | None = None) -> StageRun:
        log = stages.RunLog()
        output = stages.stage_call(
            stage=stages.stage_get(stage), deal=deal, outputs=dict(outputs or {}), log=log
        )
        return StageRun(output=output.value, truncated=output.truncated, log=log)

    return run


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


@pytest.fixture
def operator(django_user_model):
    """The staff account the browser tests log in with (deals.tests.browser.log_in)."""
    return role_user("operator", "operator", password="pw")


@pytest.fixture
def deals_run_by_two_workers(celery_worker) -> None:
    """24 deals done and 6 failed at intake (no amount) by a worker of two processes,
    racing each other on every shared row."""
    celery_worker(concurrency=2)
    good = DealFactory.create_batch(24)
    bad = DealFactory.create_batch(6, amount=None)
    for deal in good + bad:
        deal_enqueue(deal_id=deal.id, hubspot_deal_id=deal.hubspot_deal_id, reason="test")
    wait_until(
        lambda: deal_counts().by_status == {"pending": 0, "running": 0, "done": 24, "failed": 6},
        timeout=90,
        what="24 deals done and 6 failed",
    )
