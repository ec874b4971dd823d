import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deals.models import STAGE_ORDER, Deal
from deals.pipeline import deal_process
from deals.tests.factories import DealFactory, PipelineRunFactory
from vcc.testing import role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def test_it_returns_the_deal_with_every_run_of_every_stage(staff_client):
    deal = DealFactory.create(amount=None)
    deal_process(deal_id=deal.id)  # intake fails
    Deal.objects.filter(id=deal.id).update(amount=5, status="pending")
    deal_process(deal_id=deal.id)

    response = staff_client.get(f"/api/deals/{deal.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["hubspot_deal_id"] == deal.hubspot_deal_id
    assert (body["status"], body["current_stage"]) == ("done", "done")
    assert [(r["stage"], r["attempt"], r["status"]) for r in body["runs"]] == [
        ("intake", 1, "failed"),
        ("intake", 2, "succeeded"),
    ] + [(stage, 1, "succeeded") for stage in STAGE_ORDER[1:]]
    assert body["runs"][0]["error"].endswith("is missing amount")
    [first_pass] = body["passes"]  # deal_process started it: the deal came in by a factory
    assert first_pass["trigger"] == "new"
    assert {r["pass_id"] for r in body["runs"]} == {first_pass["id"]}


def test_it_returns_the_passes_newest_first_with_who_started_them(staff_client, enqueued):
    deal = DealFactory.create(amount=None)
    deal_process(deal_id=deal.id)  # intake fails
    staff_client.post(f"/api/deals/{deal.id}/retry/")
    deal_process(deal_id=deal.id)  # fails again: no amount yet

    body = staff_client.get(f"/api/deals/{deal.id}/").json()

    assert [(p["trigger"], p["trigger_label"], p["requested_by"]) for p in body["passes"]] == [
        ("retry", "Operator retry", "operator"),
        ("new", "New from HubSpot", ""),
    ]
    retry_pass, first_pass = (p["id"] for p in body["passes"])
    assert [(r["attempt"], r["pass_id"]) for r in body["runs"]] == [
        (1, first_pass),
        (2, retry_pass),
    ]


@pytest.mark.parametrize("path", ["rerun/", "process/"])  # process/: the old name, for a release
def test_rerun_answers_202_and_starts_over_in_the_operator_lane(
    staff_client, enqueued, django_capture_on_commit_callbacks, path
):
    deal = DealFactory.create(status="failed", current_stage="appraisal")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/api/deals/{deal.id}/{path}")

    assert response.status_code == 202
    assert response.json() == {"id": str(deal.id), "status": "pending"}
    deal.refresh_from_db()
    assert deal.current_stage == "intake"
    assert deal.current_pass is not None
    assert (deal.current_pass.trigger, deal.current_pass.requested_by) == ("rerun", "operator")
    assert enqueued.lanes == {str(deal.id): "operator"}


def test_retry_answers_202_and_keeps_the_failed_stage(staff_client):
    deal = DealFactory.create(status="failed", current_stage="appraisal")

    response = staff_client.post(f"/api/deals/{deal.id}/retry/")

    assert response.status_code == 202
    deal.refresh_from_db()
    assert (deal.status, deal.current_stage) == ("pending", "appraisal")


@pytest.mark.parametrize("action", ["process", "retry"])
def test_an_action_on_a_running_deal_answers_409(staff_client, action):
    deal = DealFactory.create(status="running", current_stage="review")
    PipelineRunFactory.create(deal=deal, stage="review", status="running", ended_at=None)

    response = staff_client.post(f"/api/deals/{deal.id}/{action}/")

    assert response.status_code == 409
    assert "being processed" in response.json()["detail"]


def test_retry_of_a_done_deal_answers_409_saying_why(staff_client):
    deal = DealFactory.create(status="done", current_stage="done")
    response = staff_client.post(f"/api/deals/{deal.id}/retry/")
    assert response.status_code == 409
    assert response.json()["detail"] == "The deal is done; only a failed deal can be retried."


@pytest.mark.parametrize("path", ["", "rerun/", "process/", "retry/"])
def test_an_unknown_deal_answers_404(staff_client, path):
    response = (staff_client.get if not path else staff_client.post)(
        f"/api/deals/{uuid.uuid4()}/{path}"
    )
    assert response.status_code == 404


def test_anonymous_clients_are_told_to_authenticate(client):
    deal = DealFactory.create()
    response = client.post(f"/api/deals/{deal.id}/rerun/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_logged_in_non_staff_user_is_forbidden(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    deal = DealFactory.create(status="failed")
    assert client.get(f"/api/deals/{deal.id}/").status_code == 403
    assert client.post(f"/api/deals/{deal.id}/rerun/").status_code == 403
    deal.refresh_from_db()
    assert deal.status == "failed"


def test_api_clients_authenticate_with_a_token(django_user_model):
    user = role_user("robot", "operator")
    token = Token.objects.create(user=user)
    deal = DealFactory.create()
    api = APIClient()

    assert api.get(f"/api/deals/{deal.id}/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get(f"/api/deals/{deal.id}/").status_code == 200


def test_session_posts_need_the_csrf_token(django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user("op", "operator"))
    deal = DealFactory.create(status="failed")
    response = client.post(f"/api/deals/{deal.id}/rerun/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_deal_shows_its_write_back_to_hubspot(staff_client, settings):
    settings.HUBSPOT_WRITEBACK_ENABLED = True
    deal = DealFactory.create()
    before = staff_client.get(f"/api/deals/{deal.id}/").json()
    deal_process(deal_id=deal.id)

    after = staff_client.get(f"/api/deals/{deal.id}/").json()

    assert before["writeback"] is None
    assert after["writeback"]["state"] == "queued"
    assert (after["writeback"]["outcome_status"], after["writeback"]["retry_count"]) == ("done", 0)


def test_a_survivor_lists_the_deals_merged_into_it_and_each_names_it(
    django_user_model, django_assert_num_queries
):
    api = APIClient()  # authenticated without a query: the ones counted are the deal's
    robot = role_user("robot", "operator")
    robot.get_all_permissions()  # read once; the request asks the same user object
    api.force_authenticate(robot)
    survivor = DealFactory.create(hubspot_deal_id="720001")
    at = timezone.now() - timedelta(hours=2)
    merged = [
        DealFactory.create(
            hubspot_deal_id=hubspot_deal_id,
            hubspot_state="merged",
            hubspot_state_at=at + timedelta(minutes=minutes),
            merged_into=survivor,
        )
        for hubspot_deal_id, minutes in (("720003", 0), ("720002", 5))
    ]

    with django_assert_num_queries(4):  # the deal, its runs, its passes, the merged ones
        survivor_body = api.get(f"/api/deals/{survivor.id}/").json()
    merged_body = api.get(f"/api/deals/{merged[0].id}/").json()

    # In the order they were merged: each with its id, for its own drawer.
    assert survivor_body["merged_from"] == [
        {"id": str(deal.id), "hubspot_deal_id": deal.hubspot_deal_id} for deal in merged
    ]
    assert (survivor_body["hubspot_state"], survivor_body["merged_into_id"]) == ("active", None)
    assert merged_body["hubspot_state"] == "merged"
    assert merged_body["merged_into_id"] == str(survivor.id)
    assert merged_body["merged_into_hubspot_deal_id"] == "720001"
    assert merged_body["merged_from"] == []


# ------------------------------------------------------------------------------ a run's detail
def test_a_run_answers_with_its_version_params_output_and_log_lines(staff_client):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    run = deal.pipeline_runs.get(stage="segmentation")

    response = staff_client.get(f"/api/runs/{run.id}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["deal_id"]) == (str(run.id), str(deal.id))
    assert body["stage"] == "segmentation"
    assert (body["status"], body["attempt"], body["error"]) == ("succeeded", 1, None)
    assert body["stage_version"] == "1"
    assert body["params"]["bands"][0] == [0, "small"]
    assert body["output"] == {"segment": "small", "amount": "1250.00", "band_from": 0}
    assert body["output_truncated"] is False
    [line] = body["log_lines"]
    assert line["level"] == "info" and "small" in line["message"]
    assert (body["log_lines_dropped"], body["log_lines_cleared"]) == (0, False)


def test_the_deals_timeline_leaves_what_the_runs_recorded_to_each_runs_detail(staff_client):
    deal = DealFactory.create()
    deal_process(deal_id=deal.id)

    body = staff_client.get(f"/api/deals/{deal.id}/").json()

    assert len(body["runs"]) == len(STAGE_ORDER)
    assert not {"output", "log_lines", "params"} & set(body["runs"][0])


def test_an_unknown_run_answers_404(staff_client):
    missing = uuid.uuid4()

    response = staff_client.get(f"/api/runs/{missing}/")

    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


def test_a_run_is_for_staff_only(client, django_user_model):
    run = PipelineRunFactory.create()
    assert client.get(f"/api/runs/{run.id}/").status_code == 401
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    assert client.get(f"/api/runs/{run.id}/").status_code == 403
