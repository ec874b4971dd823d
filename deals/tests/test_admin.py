from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.timezone import localtime
from playwright.sync_api import expect

from deals.models import Deal, DealWriteback
from deals.tests.browser import ARTIFACTS, browser_test, log_in
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory, DealWritebackFactory, PipelineRunFactory
from vcc.testing import role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def test_the_changelist_lists_filters_and_searches(admin_user_client):
    DealFactory.create(hubspot_deal_id="555001", name="Acme renewal", status="failed")
    DealFactory.create(hubspot_deal_id="555002", name="Globex", status="done")

    page = admin_user_client.get("/admin/deals/deal/", {"status__exact": "failed"})
    assert page.status_code == 200
    assert b"Acme renewal" in page.content and b"Globex" not in page.content

    page = admin_user_client.get("/admin/deals/deal/", {"q": "555002"})
    assert b"Globex" in page.content and b"Acme renewal" not in page.content


def test_the_change_page_shows_the_runs_read_only(admin_user_client):
    run = PipelineRunFactory.create(stage="segmentation", status="failed", error="no segment fits")

    page = admin_user_client.get(f"/admin/deals/deal/{run.deal_id}/change/")

    assert page.status_code == 200
    assert b"no segment fits" in page.content
    assert b'name="pipeline_runs-0-error"' not in page.content  # not an input: read-only
    assert b'name="status"' not in page.content


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_the_actions_say_what_started_and_what_was_skipped_and_why(
    admin_user_client, enqueued, django_capture_on_commit_callbacks
):
    failed = DealFactory.create(status="failed", current_stage="appraisal")
    running = DealFactory.create(status="running")
    done = DealFactory.create(status="done", current_stage="done")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_user_client.post(
            "/admin/deals/deal/",
            {"action": "retry_failed_stage", "_selected_action": [failed.id, running.id, done.id]},
            follow=True,
        )

    assert _messages(response) == [
        ("success", "Retry started for 1 deal, ahead of the backlog."),
        (
            "warning",
            "Skipped 2 deals: 1 is done, 1 is being processed. Only failed deals can be retried.",
        ),
    ]
    failed.refresh_from_db()
    assert (failed.status, failed.current_stage) == ("pending", "appraisal")
    assert enqueued == [str(failed.id)]
    assert enqueued.lanes[str(failed.id)] == "operator"
    assert failed.current_pass is not None
    assert failed.current_pass.trigger == "retry"
    assert failed.current_pass.requested_by == "boss"


def test_an_action_that_starts_nothing_shows_no_success_message(admin_user_client, enqueued):
    done = DealFactory.create(status="done", current_stage="done")

    response = admin_user_client.post(
        "/admin/deals/deal/",
        {"action": "retry_failed_stage", "_selected_action": [done.id]},
        follow=True,
    )

    assert _messages(response) == [
        ("warning", "Skipped 1 deal: 1 is done. Only failed deals can be retried.")
    ]
    assert enqueued == []


def test_rerun_from_scratch_starts_every_selected_deal_over(
    admin_user_client, enqueued, django_capture_on_commit_callbacks
):
    deals = [DealFactory.create(status="done", current_stage="done") for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_user_client.post(
            "/admin/deals/deal/",
            {"action": "rerun_from_scratch", "_selected_action": [d.id for d in deals]},
            follow=True,
        )

    assert _messages(response) == [("success", "Re-run started for 3 deals, ahead of the backlog.")]
    assert set(Deal.objects.values_list("status", "current_stage")) == {("pending", "intake")}
    assert sorted(enqueued) == sorted(str(d.id) for d in deals)
    assert set(enqueued.lanes.values()) == {"operator"}
    assert_deal_counts_exact()


def _at(now: datetime, hours_ago: float) -> datetime:
    # From one `now` a test reads once: reading the clock again for the expected text could
    # cross a minute, which the pages show.
    return now.replace(microsecond=0) - timedelta(hours=hours_ago)


def test_the_changelist_filters_on_hubspot_state_and_says_where_each_deal_stands(
    admin_user_client,
):
    now = timezone.now()
    survivor = DealFactory.create(hubspot_deal_id="660001", name="Survivor")
    DealFactory.create(
        hubspot_deal_id="660002",
        name="Gone",
        hubspot_state="archived",
        hubspot_state_at=_at(now, 2),
    )
    DealFactory.create(
        hubspot_deal_id="660003",
        name="Absorbed",
        hubspot_state="merged",
        hubspot_state_at=_at(now, 1),
        merged_into=survivor,
    )

    every = admin_user_client.get("/admin/deals/deal/").content.decode()
    archived = admin_user_client.get(
        "/admin/deals/deal/", {"hubspot_state__exact": "archived"}
    ).content.decode()

    assert "Gone" in archived and "Absorbed" not in archived and "Survivor" not in archived
    # In the "where" column, instead of the pipeline's place; when, and that, on hover.
    deleted_at, merged_at = (f"{localtime(_at(now, hours)):%Y-%m-%d %H:%M}" for hours in (2, 1))
    assert (
        f'<span title="deleted in HubSpot on {deleted_at}; pipeline: pending · intake">'
        "deleted in HubSpot</span>"
    ) in every
    survivor_url = f"/admin/deals/deal/{survivor.id}/change/"
    assert (
        f'<span title="merged into 660001 on {merged_at}; pipeline: pending · intake">'
        f'merged into <a href="{survivor_url}">660001</a></span>'
    ) in every
    assert '<td class="field-where">pending · intake</td>' in every  # the survivor


def test_the_change_page_links_the_survivor_and_the_deals_merged_from(admin_user_client):
    now = timezone.now()
    survivor = DealFactory.create(hubspot_deal_id="670001")
    first, second = (
        DealFactory.create(
            hubspot_deal_id=hubspot_deal_id,
            hubspot_state="merged",
            hubspot_state_at=_at(now, hours),
            merged_into=survivor,
        )
        for hubspot_deal_id, hours in (("670002", 3), ("670003", 1))
    )

    page = admin_user_client.get(f"/admin/deals/deal/{survivor.id}/change/").content.decode()
    merged = admin_user_client.get(f"/admin/deals/deal/{first.id}/change/").content.decode()

    links = ", ".join(
        f'<a href="/admin/deals/deal/{deal.id}/change/">{deal.hubspot_deal_id}</a>'
        for deal in (first, second)
    )
    assert links in page  # in the order they were merged
    survivor_link = f'<a href="/admin/deals/deal/{survivor.id}/change/">670001</a>'
    assert f"merged into {survivor_link} on {localtime(_at(now, 3)):%Y-%m-%d %H:%M}" in merged


def test_the_actions_skip_deals_deleted_or_merged_in_hubspot_saying_so(admin_user_client, enqueued):
    survivor = DealFactory.create(status="done", current_stage="done")
    gone = DealFactory.create(status="failed", hubspot_state="archived")
    absorbed = DealFactory.create(status="failed", hubspot_state="merged", merged_into=survivor)

    response = admin_user_client.post(
        "/admin/deals/deal/",
        {"action": "retry_failed_stage", "_selected_action": [gone.id, absorbed.id]},
        follow=True,
    )

    assert _messages(response) == [
        (
            "warning",
            "Skipped 2 deals: 1 is deleted in HubSpot, 1 is merged into another deal in "
            "HubSpot. Only failed deals can be retried.",
        )
    ]
    assert set(
        Deal.objects.filter(id__in=[gone.id, absorbed.id]).values_list("status", flat=True)
    ) == {"failed"}
    assert enqueued == []


def test_the_admin_has_the_sites_own_name(admin_user_client):
    page = admin_user_client.get("/admin/").content.decode()

    assert "<title>Site administration | VCC deal intake admin</title>" in page
    assert "VCC deal intake" in page.split('id="site-name"')[1].split("</div>")[0]
    assert "Django administration" not in page


def test_pipeline_runs_have_a_read_only_admin(admin_user_client):
    run = PipelineRunFactory.create()
    assert (
        admin_user_client.get(
            "/admin/deals/pipelinerun/", {"status__exact": "succeeded"}
        ).status_code
        == 200
    )
    page = admin_user_client.get(f"/admin/deals/pipelinerun/{run.id}/change/")
    assert page.status_code == 200
    assert b'type="submit"' not in page.content.split(b'id="content-main"')[1]


def test_a_runs_page_shows_what_its_stage_recorded(admin_user_client):
    run = PipelineRunFactory.create(
        stage_version="7",
        output={"segment": "enterprise"},
        log_lines=[{"at": "2026-01-01T00:00:00+00:00", "level": "info", "message": "banded"}],
    )

    page = admin_user_client.get(f"/admin/deals/pipelinerun/{run.id}/change/").content.decode()

    assert "enterprise" in page and "banded" in page
    with CaptureQueriesContext(connection) as listing:
        assert admin_user_client.get("/admin/deals/pipelinerun/").status_code == 200
    runs_read = [q["sql"] for q in listing.captured_queries if 'FROM "pipeline_runs"' in q["sql"]]
    assert runs_read and not any('"log_lines"' in sql for sql in runs_read)


def test_write_backs_filter_on_errors_and_retry_now_queues_them_again(admin_user_client):
    now = timezone.now()
    gave_up = DealFactory.create(hubspot_deal_id="880001", status="failed")
    sent = DealFactory.create(hubspot_deal_id="880002", status="done")
    for deal, state in ((gave_up, "error"), (sent, "complete")):
        DealWritebackFactory.create(
            deal=deal,
            finished_at=now,
            state=state,
            retry_count=6 if state == "error" else 0,
            last_error="HubSpot error (502)" if state == "error" else "",
        )

    errors = admin_user_client.get("/admin/deals/dealwriteback/", {"state__exact": "error"})
    response = admin_user_client.post(
        "/admin/deals/dealwriteback/",
        {"action": "retry_writeback_now", "_selected_action": [gave_up.id, sent.id]},
        follow=True,
    )

    assert b"880001" in errors.content and b"880002" not in errors.content
    assert b"HubSpot error (502)" in errors.content
    assert b"Queued 1 outcome(s)" in response.content
    assert b"Left 1 alone" in response.content
    retried = DealWriteback.objects.get(deal=gave_up)
    assert (retried.state, retried.retry_count) == ("queued", 0)
    assert DealWriteback.objects.get(deal=sent).state == "complete"


@browser_test
def test_the_deals_list_fits_1400_px_with_one_line_a_deal(page, django_user_model):
    django_user_model.objects.create_superuser("boss", password="pw")
    long_name = "Harbour View Residential Development Phase Two Refinancing and Extension"
    DealFactory.create_batch(3, name=long_name, status="failed", current_stage="appraisal")
    DealFactory.create(name="Short", status="running", current_stage="review")
    DealFactory.create(  # the longest text of the HubSpot column
        name=long_name,
        hubspot_deal_id="18446744073",
        hubspot_state="merged",
        hubspot_state_at=timezone.now(),
        merged_into=DealFactory.create(hubspot_deal_id="18446744074"),
    )
    log_in(page, path="/admin/deals/deal/", username="boss")

    results = page.locator("#changelist .results")
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    # Nothing clipped or scrolled sideways: the last column is on screen.
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the list scrolls sideways"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    updated = page.locator("#result_list th.column-updated")
    assert updated.bounding_box()["x"] + updated.bounding_box()["width"] <= 1400
    # One line a deal: the long names are cut, and whole on hover.
    heights = page.locator("#result_list tbody tr").evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    assert max(heights) - min(heights) < 2, heights
    cut = page.locator("#result_list .deal-name", has_text="Harbour View").first
    expect(cut).to_have_attribute("title", long_name)
    assert cut.evaluate("e => e.scrollWidth > e.clientWidth")  # cut with an ellipsis
    expect(page.locator("#result_list td.field-where", has_text="running · review")).to_be_visible()
    expect(page.locator("#result_list td.field-where a", has_text="18446744074")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "admin-deals-1400.png", full_page=True)


def test_a_viewer_sees_the_deals_without_the_actions_an_operator_has(client):
    DealFactory.create(status="failed")
    client.force_login(role_user("vera", "viewer"))
    as_viewer = client.get("/admin/deals/deal/")
    client.force_login(role_user("olga", "operator"))
    as_operator = client.get("/admin/deals/deal/")

    assert as_viewer.status_code == 200 and b"retry_failed_stage" not in as_viewer.content
    assert b"retry_failed_stage" in as_operator.content and b"rerun_from_scratch" in (
        as_operator.content
    )


def test_a_viewer_posting_an_action_starts_nothing(client, enqueued):
    deal = DealFactory.create(status="failed")
    client.force_login(role_user("vera", "viewer"))

    client.post(
        "/admin/deals/deal/", {"action": "retry_failed_stage", "_selected_action": [deal.id]}
    )

    deal.refresh_from_db()
    assert deal.status == "failed" and enqueued == []


def test_retry_now_is_the_operators(client):
    client.force_login(role_user("vera", "viewer"))
    as_viewer = client.get("/admin/deals/dealwriteback/")
    client.force_login(role_user("olga", "operator"))
    as_operator = client.get("/admin/deals/dealwriteback/")

    assert b"retry_writeback_now" not in as_viewer.content
    assert b"retry_writeback_now" in as_operator.content
