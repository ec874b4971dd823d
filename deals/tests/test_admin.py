import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deals.models import Deal, DealWriteback
from deals.tests.browser import ARTIFACTS, browser_test, log_in
from deals.tests.counts import assert_deal_counts_exact
from deals.tests.factories import DealFactory, PipelineRunFactory

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


def test_write_backs_filter_on_errors_and_retry_now_queues_them_again(admin_user_client):
    now = timezone.now()
    gave_up = DealFactory.create(hubspot_deal_id="880001", status="failed")
    sent = DealFactory.create(hubspot_deal_id="880002", status="done")
    for deal, state in ((gave_up, "error"), (sent, "complete")):
        DealWriteback.objects.create(
            deal=deal,
            outcome_status=deal.status,
            outcome_stage="intake",
            finished_at=now,
            state=state,
            retry_count=6 if state == "error" else 0,
            last_error="HubSpot error (502)" if state == "error" else "",
            queued_at=now,
            updated_at=now,
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
    log_in(page, path="/admin/deals/deal/", username="boss")

    results = page.locator("#changelist .results")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
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
    page.screenshot(path=ARTIFACTS / "admin-deals-1400.png", full_page=True)
