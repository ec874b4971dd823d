import uuid

import pytest

from hubspot.models import SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[str]:
    ids: list[str] = []
    monkeypatch.setattr("hubspot.tasks.run_sync.delay", ids.append)
    return ids


def test_starting_a_sync_answers_202_with_where_to_watch_it(
    staff_client, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/sync/runs/")

    assert response.status_code == 202
    body = response.json()
    run = SyncRun.objects.get()
    assert body == {
        "id": str(run.id),
        "status": "queued",
        "created": True,
        "status_url": f"http://testserver/api/sync/runs/{run.id}/",
    }
    assert queued == [str(run.id)]


def test_a_second_request_gets_the_sync_in_flight(staff_client, queued):
    first = staff_client.post("/api/sync/runs/").json()
    second = staff_client.post("/api/sync/runs/")
    assert second.status_code == 202
    assert second.json()["id"] == first["id"]
    assert second.json()["created"] is False
    assert SyncRun.objects.count() == 1


def test_a_run_shows_its_counts_and_progress(staff_client):
    run = SyncRun.objects.create(
        trigger="scheduled",
        status="running",
        fetched=400,
        new=10,
        pages=2,
        requests=3,
        rate_limited=1,
        progress_current=400,
        progress_total=1000,
        progress_message="page 2: 400 deals fetched, 10 new",
    )

    body = staff_client.get(f"/api/sync/runs/{run.id}/").json()

    assert body["progress"] == {
        "current": 400,
        "total": 1000,
        "message": "page 2: 400 deals fetched, 10 new",
    }
    assert (body["fetched"], body["new"], body["rate_limited"]) == (400, 10, 1)


def test_recent_runs_are_listed_newest_first_a_page_at_a_time(staff_client):
    for _ in range(25):
        SyncRun.objects.create(trigger="scheduled", status="succeeded")

    first = staff_client.get("/api/sync/runs/").json()
    second = staff_client.get(first["next"]).json()

    assert len(first["results"]) == 20 and len(second["results"]) == 5
    created = [r["created_at"] for r in first["results"] + second["results"]]
    assert created == sorted(created, reverse=True)
    assert second["next"] is None


def test_an_unknown_run_answers_404(staff_client):
    assert staff_client.get(f"/api/sync/runs/{uuid.uuid4()}/").status_code == 404


def test_syncs_are_for_staff_only(client, django_user_model):
    assert client.post("/api/sync/runs/").status_code == 401
    client.force_login(django_user_model.objects.create_user("visitor"))
    assert client.post("/api/sync/runs/").status_code == 403
    assert SyncRun.objects.count() == 0


def test_staff_can_sync_now_from_the_admin(client, django_user_model, queued):
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw"))

    page = client.get("/admin/hubspot/syncrun/")
    assert b"Sync now" in page.content
    response = client.post("/admin/hubspot/syncrun/sync-now/", follow=True)

    assert b"Sync queued" in response.content
    assert SyncRun.objects.get().trigger == "manual"


@pytest.mark.django_db(transaction=True)  # real commits: the send happens right after one
def test_with_the_broker_down_it_answers_503_and_frees_the_lock(staff_client, monkeypatch):
    def broker_down(run_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("hubspot.tasks.run_sync.delay", broker_down)

    response = staff_client.post("/api/sync/runs/")

    assert response.status_code == 503
    assert "task broker is unavailable" in response.json()["detail"]
    run = SyncRun.objects.get()
    assert (run.status, run.active) == ("failed", None)


@pytest.mark.parametrize("limit", ["abc", "0", "101", "-1"])
def test_a_bad_limit_is_a_400_naming_it(staff_client, limit):
    response = staff_client.get(f"/api/sync/runs/?limit={limit}")

    assert response.status_code == 400
    assert response.json() == {"limit": ["A whole number from 1 to 100."]}


def test_a_cursor_we_never_handed_out_is_not_found(staff_client):
    response = staff_client.get("/api/sync/runs/?cursor=zz")

    assert (response.status_code, response.json()) == (404, {"detail": "Invalid cursor"})


def test_a_run_lists_the_records_it_rejected_and_counts_the_rest(staff_client):
    run = SyncRun.objects.create(trigger="scheduled", status="succeeded", invalid=3)
    run.rejections.create(hubspot_deal_id="101", reason="no checked-in time")
    run.rejections.create(hubspot_deal_id="102", reason="amount 1E+20 does not fit")

    body = staff_client.get(f"/api/sync/runs/{run.id}/").json()

    assert body["rejected"] == [
        {"hubspot_deal_id": "101", "reason": "no checked-in time"},
        {"hubspot_deal_id": "102", "reason": "amount 1E+20 does not fit"},
    ]
    assert (body["invalid"], body["rejected_not_listed"]) == (3, 1)
    listed = staff_client.get("/api/sync/runs/").json()["results"][0]
    assert "rejected" not in listed  # the list stays light


def test_the_admin_shows_the_rejected_records(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw"))
    run = SyncRun.objects.create(trigger="scheduled", status="succeeded", invalid=1)
    run.rejections.create(hubspot_deal_id="101", reason="no checked-in time")

    page = client.get(f"/admin/hubspot/syncrun/{run.id}/change/").content.decode()

    assert "Rejected records (the first 1,000 of a sync)" in page
    assert "no checked-in time" in page
