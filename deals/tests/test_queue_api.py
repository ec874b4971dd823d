from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import STAGE_ORDER, Deal, PipelineRun
from deals.pipeline import deal_process
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db

URL = "/api/queue/deals/"


def _done_deal(**fields) -> Deal:
    deal = DealFactory.create(status="done", current_stage="done", **fields)
    t0 = timezone.now() - timedelta(minutes=1)
    for n, stage in enumerate(STAGE_ORDER):
        PipelineRunFactory.create(
            deal=deal,
            stage=stage,
            attempt=1,
            started_at=t0 + timedelta(seconds=n),
            ended_at=t0 + timedelta(seconds=n + 1),
        )
    return deal


def test_a_page_lists_deals_with_exactly_four_steps_each(staff_client):
    deal = _done_deal(name="Acme")

    response = staff_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["next_before"] is None
    [item] = body["items"]
    assert item["id"] == str(deal.id)
    assert item["hubspot_deal_id"] == deal.hubspot_deal_id
    assert (item["name"], item["status"], item["current_stage"]) == ("Acme", "done", "done")
    assert item["duration_ms"] == 6000
    assert item["updated_at"].endswith("Z")
    assert [(s["stage"], s["status"]) for s in item["steps"]] == [
        ("intake", "succeeded"),
        ("segmentation", "succeeded"),
        ("categorization", "succeeded"),
        ("appraisal", "succeeded"),
    ]
    run = deal.pipeline_runs.get(stage="appraisal")
    assert run.ended_at is not None
    assert item["steps"][3] == {
        "stage": "appraisal",
        "status": "succeeded",
        "started_at": run.started_at.isoformat().replace("+00:00", "Z"),
        "ended_at": run.ended_at.isoformat().replace("+00:00", "Z"),
        "pipeline_run_id": str(run.id),
        "error": None,
    }
    assert response["Server-Timing"].startswith("app;dur=")


def test_next_before_passed_back_verbatim_walks_every_deal_once(staff_client):
    deals = Deal.objects.bulk_create(Deal(hubspot_deal_id=f"88{n}") for n in range(12))
    Deal.objects.update(updated_at=timezone.now())  # all tied

    seen, params = [], {"limit": 5}
    while True:
        body = staff_client.get(URL, params).json()
        seen += [item["id"] for item in body["items"]]
        if body["next_before"] is None:
            break
        params["before"] = body["next_before"]

    assert sorted(seen) == sorted(str(d.id) for d in deals)


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_a_page_answers_with_exactly_two_queries(api, django_assert_num_queries, limit):
    Deal.objects.bulk_create(Deal(hubspot_deal_id=f"77{n}") for n in range(limit + 1))
    busy = _done_deal()
    for attempt in range(2, 30):
        PipelineRunFactory.create(deal=busy, stage="intake", attempt=attempt)

    with django_assert_num_queries(2):
        response = api.get(URL, {"limit": limit})

    assert response.status_code == 200
    assert len(response.json()["items"]) == limit


def test_a_page_of_deals_whose_runs_recorded_outputs_is_still_two_queries_without_them(
    api, django_assert_num_queries
):
    for _ in range(3):
        deal_process(deal_id=DealFactory.create().id)  # every run with its output and lines
    assert PipelineRun.objects.filter(output__isnull=False).count() == 3 * 6

    with django_assert_num_queries(2) as queries:
        response = api.get(URL)

    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "output" not in sql and "log_lines" not in sql and "params" not in sql
    assert "log_lines" not in response.content.decode()


@pytest.mark.parametrize("value", ["0", "201", "-1", "ten", "1.5", ""])
def test_a_limit_out_of_range_or_not_a_number_answers_400_naming_limit(staff_client, value):
    response = staff_client.get(URL, {"limit": value})
    assert response.status_code == 400
    assert list(response.json()) == ["limit"]


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00Z|not-a-uuid"]
)
def test_a_bad_before_answers_400_naming_before(staff_client, value):
    response = staff_client.get(URL, {"before": value})
    assert response.status_code == 400
    assert list(response.json()) == ["before"]


@pytest.mark.parametrize("field", ["status", "stage"])
def test_an_unknown_status_or_stage_answers_400_naming_it(staff_client, field):
    response = staff_client.get(URL, {field: "sleeping"})
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_filters_apply_and_blank_filters_mean_none(staff_client):
    failed = DealFactory.create(
        hubspot_deal_id="4440001", status="failed", current_stage="appraisal"
    )
    DealFactory.create(hubspot_deal_id="4440002", status="done", current_stage="done")

    def ids(**params) -> list[str]:
        response = staff_client.get(URL, params)
        assert response.status_code == 200, response.content
        return [item["hubspot_deal_id"] for item in response.json()["items"]]

    assert ids(status="failed") == [failed.hubspot_deal_id]
    assert ids(stage="appraisal", q="444") == [failed.hubspot_deal_id]
    assert sorted(ids(status="", stage="", q="")) == ["4440001", "4440002"]


def test_a_plain_iso_timestamp_is_accepted_as_before(staff_client):
    old = DealFactory.create()
    Deal.objects.filter(id=old.id).update(updated_at=timezone.now() - timedelta(days=1))
    DealFactory.create()

    response = staff_client.get(URL, {"before": (timezone.now() - timedelta(hours=1)).isoformat()})

    assert [item["id"] for item in response.json()["items"]] == [str(old.id)]


def test_an_unchanged_page_answers_304_with_no_body(staff_client):
    _done_deal()
    first = staff_client.get(URL)
    etag = first["ETag"]

    again = staff_client.get(URL, headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag


def test_a_running_deal_stays_304_while_its_duration_grows(staff_client):
    deal = DealFactory.create(status="running", current_stage="segmentation")
    PipelineRunFactory.create(
        deal=deal,
        stage="segmentation",
        status="running",
        started_at=timezone.now() - timedelta(minutes=2),
        ended_at=None,
    )
    first = staff_client.get(URL)

    assert first.json()["items"][0]["duration_ms"] >= 120_000  # to now: it is running
    assert staff_client.get(URL, headers={"If-None-Match": first["ETag"]}).status_code == 304
    later = staff_client.get(URL)
    assert later.json()["items"][0]["duration_ms"] > first.json()["items"][0]["duration_ms"]
    assert later["ETag"] == first["ETag"]


def test_two_pages_of_one_queue_have_different_etags(staff_client):
    DealFactory.create_batch(3)
    one = staff_client.get(URL, {"limit": 1})
    two = staff_client.get(URL, {"limit": 1, "before": one.json()["next_before"]})
    assert one["ETag"] != two["ETag"]


def test_counts_answer_every_status_and_the_total(staff_client):
    DealFactory.create_batch(2, status="done")
    DealFactory.create(status="pending")

    response = staff_client.get("/api/queue/counts/")

    assert response.status_code == 200
    assert response.json() == {
        "pending": 1,
        "running": 0,
        "done": 2,
        "failed": 0,
        "total": 3,
        "archived": 0,
        "merged": 0,
        "stages": {
            "intake": 3,
            "segmentation": 0,
            "categorization": 0,
            "appraisal": 0,
            "review": 0,
            "done": 0,
        },
    }
    body = response.json()
    numbers = [*(n for key, n in body.items() if key != "stages"), *body["stages"].values()]
    assert all(type(n) is int for n in numbers)  # JSON integers, as documented: not 2.0


@pytest.mark.parametrize("url", [URL, "/api/queue/counts/"])
def test_the_queue_is_for_staff_only(client, django_user_model, url):
    anonymous = client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Token"

    client.force_login(django_user_model.objects.create_user("visitor"))
    assert client.get(url).status_code == 403


def test_timestamps_read_exactly_as_in_the_deal_endpoint(staff_client):
    whole_second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    deal = DealFactory.create(created_at=whole_second)
    PipelineRunFactory.create(
        deal=deal, started_at=whole_second, ended_at=whole_second.replace(second=7)
    )

    [item] = staff_client.get(URL).json()["items"]
    detail = staff_client.get(f"/api/deals/{deal.id}/").json()

    assert item["created_at"] == detail["created_at"]  # no fraction when it is zero
    assert item["updated_at"] == detail["updated_at"]  # microseconds when there are some
    assert item["steps"][0]["started_at"] == detail["runs"][0]["started_at"]
    assert item["steps"][0]["ended_at"] == detail["runs"][0]["ended_at"]
