"""GET /api/insights/: the charts' series from the rollups, staff only, ETag and 304."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deals.pipeline import deal_process
from deals.services import insights_fold
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db

URL = "/api/insights/"


def test_insights_are_for_staff_only(client, django_user_model):
    anonymous = client.get(URL)
    assert anonymous.status_code == 401

    client.force_login(django_user_model.objects.create_user("visitor"))
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("value", ["1h", "", "24H"])
def test_an_unknown_range_is_a_400_naming_it(staff_client, value):
    response = staff_client.get(URL, {"range": value})

    assert response.status_code == 400
    assert "range" in response.json()


def test_an_empty_system_answers_zeros_and_gaps_for_every_bucket(staff_client):
    body = staff_client.get(URL).json()

    assert (body["range"], body["step_seconds"], len(body["buckets"])) == ("24h", 300, 288)
    assert body["buckets"][1] - body["buckets"][0] == 300
    assert body["as_of"] is None
    assert set(body["arrived"]) == {"sync", "webhook", "import", "reconcile"}
    assert all(n == 0 for series in body["arrived"].values() for n in series)
    assert body["done"] == [0] * 288 and body["failed"] == [0] * 288
    assert body["durations"]["intake"] == {"p50": [None] * 288, "p95": [None] * 288}
    assert body["failures"]["top_reasons"]["intake"] == []
    assert body["backlog"]["pending"] == [None] * 288


def test_seven_days_come_hourly(staff_client):
    body = staff_client.get(URL, {"range": "7d"}).json()

    assert (body["step_seconds"], len(body["buckets"])) == (3600, 168)


def test_a_known_workload_reads_back_per_bucket(staff_client, use_stage):
    now = timezone.now()
    # Ten intake runs of 0.3 s and ten of 3 s in now's bucket: p50 is the top of the
    # first bin, [0.2 s, 0.5 s); p95 interpolates inside [2 s, 5 s).
    for seconds in [0.3] * 10 + [3.0] * 10:
        PipelineRunFactory.create(started_at=now - timedelta(seconds=seconds), ended_at=now)
    for deal in DealFactory.create_batch(3, amount=None):
        deal_process(deal_id=deal.id)  # ends on the real clock: maybe in the next bucket
    insights_fold(now=now)

    body = staff_client.get(URL).json()

    # now's bucket, not the last one: the request may come after a 5-minute boundary.
    at = body["buckets"].index(int(now.timestamp()) // 300 * 300)
    intake = body["durations"]["intake"]
    assert intake["p50"][at] == pytest.approx(0.5)
    assert intake["p95"][at] == pytest.approx(2 + 3 * (19 - 10) / 10)  # 4.7 s
    # The failures over the window: they may straddle a boundary.
    assert sum(body["failures"]["by_stage"]["intake"]) == 3
    assert body["failures"]["top_reasons"]["intake"] == [
        {"reason": "deal N is missing amount", "runs": 3, "failed": 3, "retried": 0}
    ]
    assert sum(body["failed"]) == 3
    assert body["backlog"]["pending"][at] == 20  # the runs' deals, pending
    assert body["as_of"] is not None


def test_an_unchanged_poll_answers_304_until_the_next_fold(staff_client, monkeypatch):
    now = timezone.now()
    # The ETag names the window's start, which moves every 5 minutes: the polls' clock
    # stands still, or two polls either side of a boundary would differ.
    monkeypatch.setattr("deals.insights_apis.timezone.now", lambda: now)
    insights_fold(now=now)
    first = staff_client.get(URL)
    etag = first.headers["ETag"]

    again = staff_client.get(URL, headers={"if-none-match": etag})
    assert again.status_code == 304
    other_range = staff_client.get(URL, {"range": "7d"}, headers={"if-none-match": etag})
    assert other_range.status_code == 200

    insights_fold(now=now + timedelta(seconds=1))
    assert staff_client.get(URL, headers={"if-none-match": etag}).status_code == 200


def test_buckets_start_on_five_minute_boundaries(staff_client, monkeypatch):
    fixed = datetime(2026, 12, 7, 10, 3, 12, tzinfo=UTC)
    monkeypatch.setattr("deals.insights_apis.timezone.now", lambda: fixed)

    body = staff_client.get(URL).json()

    assert body["buckets"][-1] == int(datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp())


def test_top_reasons_count_exactly_the_window_from_days_hours_and_minutes(staff_client):
    now = timezone.now()
    deal = DealFactory.create()
    for n, hours_ago in enumerate([0.2, 3, 23.5, 24.5, 30]):
        at = now - timedelta(hours=hours_ago)
        PipelineRunFactory.create(
            deal=deal, attempt=n + 1, status="failed", error="boom", started_at=at, ended_at=at
        )
    insights_fold(now=now)

    top = staff_client.get(URL).json()["failures"]["top_reasons"]["intake"]
    week = staff_client.get(URL, {"range": "7d"}).json()["failures"]["top_reasons"]["intake"]

    assert top == [{"reason": "boom", "runs": 3, "failed": 3, "retried": 0}]
    assert week[0]["runs"] == 5
