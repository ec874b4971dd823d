"""GET /metrics: names and values after a known workload, from the database at each
scrape; a bearer token, or loopback only without one."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deals.pipeline import deal_process
from deals.services import deals_upsert_from_hubspot, insights_fold
from deals.tests.factories import (
    DealFactory,
    DealWritebackFactory,
    PipelineRunFactory,
    deal_from_hubspot,
)
from hubspot.models import SyncRun
from hubspot.quota import build_daily_quota
from hubspot.ratelimit import shared_redis
from hubspot.request_counts import KEY, build_request_counts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_redis():
    shared_redis().delete(KEY)
    build_daily_quota().clear()
    yield
    shared_redis().delete(KEY)
    build_daily_quota().clear()


def _scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_after_a_known_workload(client, enqueued):
    deals_upsert_from_hubspot(
        deals=[deal_from_hubspot("5001"), deal_from_hubspot("5002")],
        now=timezone.now(),
        source="hubspot_webhook",
    )
    for deal in DealFactory.create_batch(2):
        deal_process(deal_id=deal.id)
    bad = DealFactory.create(amount=None)
    deal_process(deal_id=bad.id)  # fails at intake
    DealWritebackFactory.create(deal=bad, state="error")
    started = timezone.now() - timedelta(seconds=40)
    run = SyncRun.objects.create(
        trigger="scheduled", kind="changes", status="running", started_at=started
    )
    SyncRun.objects.filter(id=run.id).update(
        status="succeeded", finished_at=started + timedelta(seconds=12)
    )
    counts = build_request_counts()
    counts.record(kind="search", rate_limited=False)
    counts.record(kind="search", rate_limited=True)
    build_daily_quota().record(limit=250_000, remaining=1_000)
    insights_fold(now=timezone.now())

    m = _scrape(client)

    assert m[("vcc_deals", (("stage", "done"), ("status", "done")))] == 2
    assert m[("vcc_deals", (("stage", "intake"), ("status", "failed")))] == 1
    assert m[("vcc_deals", (("stage", "intake"), ("status", "pending")))] == 2  # the upserted
    assert m[("vcc_pipeline_runs_total", (("outcome", "succeeded"), ("stage", "review")))] == 2
    assert m[("vcc_pipeline_runs_total", (("outcome", "failed"), ("stage", "intake")))] == 1
    intake = (("outcome", "succeeded"), ("stage", "intake"))
    assert m[("vcc_stage_duration_seconds_count", intake)] == 2
    assert m[("vcc_stage_duration_seconds_bucket", (("le", "+Inf"), *intake))] == 2
    assert m[("vcc_deals_arrived_total", (("source", "webhook"),))] == 2
    assert m[("vcc_deals_finished_total", (("outcome", "done"),))] == 2
    assert m[("vcc_deals_finished_total", (("outcome", "failed"),))] == 1
    assert m[("vcc_pipeline_backlog", ())] == 2
    assert m[("vcc_pipeline_oldest_pending_seconds", ())] >= 0
    assert m[("vcc_hubspot_sync_runs_total", (("kind", "changes"), ("outcome", "succeeded")))] == 1
    sync = (("kind", "changes"),)
    assert m[("vcc_hubspot_sync_duration_seconds_sum", sync)] == pytest.approx(12)
    assert m[("vcc_hubspot_sync_duration_seconds_bucket", (("kind", "changes"), ("le", "10")))] == 0
    assert m[("vcc_hubspot_sync_duration_seconds_bucket", (("kind", "changes"), ("le", "20")))] == 1
    assert m[("vcc_hubspot_requests_total", (("kind", "search"),))] == 2
    assert m[("vcc_hubspot_rate_limited_total", (("kind", "search"),))] == 1
    assert m[("vcc_hubspot_requests_total", (("kind", "batch_read"),))] == 0
    assert m[("vcc_hubspot_daily_remaining", ())] == 1_000
    assert m[("vcc_hubspot_daily_limit_reached", ())] == 0
    assert m[("vcc_writebacks", (("state", "queued"),))] == 0  # write-back is off
    assert m[("vcc_writebacks", (("state", "error"),))] == 1
    assert m[("vcc_health_status", ())] == 1  # degraded: under 10% of the daily calls left
    assert m[("vcc_health_reason", (("code", "daily_limit_low"), ("severity", "degraded")))] == 1
    assert m[("vcc_health_reason", (("code", "writebacks_error"), ("severity", "degraded")))] == 1


def test_counters_survive_a_prune_of_the_rollups(client):
    long_ago = timezone.now() - timedelta(days=30)
    deal = DealFactory.create()
    PipelineRunFactory.create(deal=deal, started_at=long_ago, ended_at=long_ago)
    insights_fold(now=timezone.now())  # the 5-minute and hourly rows are dropped

    m = _scrape(client)
    assert m[("vcc_pipeline_runs_total", (("outcome", "succeeded"), ("stage", "intake")))] == 1


def test_without_a_token_only_loopback_may_scrape(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code == 403


def test_with_a_token_it_takes_the_bearer_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"

    assert client.get("/metrics").status_code == 401  # loopback too: the token is the rule
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    right = client.get(
        "/metrics", REMOTE_ADDR="10.0.0.7", headers={"Authorization": "Bearer s3cret-metrics"}
    )
    assert right.status_code == 200
    assert b"s3cret" not in right.content
