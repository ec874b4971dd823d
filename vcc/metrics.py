"""GET /metrics: Prometheus' text format, computed from the database (and Redis) at every
scrape by a custom collector, so every counter survives restarts and every web process
answers the same. Guarded by METRICS_TOKEN (a bearer token) or, unset, loopback only.

Counters come from totals kept as work happens (deals/insights_models.py, the sync runs'
totals, HubSpot's request counts in Redis): they never go down, whatever is pruned.
"""

import hmac
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from deals.insights_models import DURATION_BOUNDS
from deals.insights_selectors import deal_event_totals, insights_as_of, pipeline_run_totals
from deals.selectors import (
    deal_counts_by_status_and_stage,
    deal_writebacks_by_state,
    pipeline_backlog,
)
from hubspot.quota import build_daily_quota
from hubspot.request_counts import KINDS, build_request_counts
from hubspot.selectors import sync_health, sync_run_totals

LOOPBACK = {"127.0.0.1", "::1"}
HEALTH_VALUES = {"ok": 0, "degraded": 1, "failing": 2}
_LE = [*(f"{bound:g}" for bound in DURATION_BOUNDS), "+Inf"]


def _histogram(bins: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative buckets from counts per duration bin (bin i ends at DURATION_BOUNDS[i])."""
    running, out = 0, []
    for index, le in enumerate(_LE):
        running += bins.get(index, 0)
        out.append((le, float(running)))
    return out


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        deals = GaugeMetricFamily(
            "vcc_deals",
            "Deals by status and current stage (archived and merged in HubSpot: that status).",
            labels=["status", "stage"],
        )
        for (status, stage), n in sorted(deal_counts_by_status_and_stage().items()):
            deals.add_metric([status, stage], n)
        yield deals

        runs = CounterMetricFamily(
            "vcc_pipeline_runs", "Stage runs ended, by outcome.", labels=["stage", "outcome"]
        )
        durations = HistogramMetricFamily(
            "vcc_stage_duration_seconds",
            "Stage run durations, by outcome.",
            labels=["stage", "outcome"],
        )
        per_series: dict[tuple[str, str], tuple[dict[int, int], float]] = {}
        for total in pipeline_run_totals():
            bins, seconds = per_series.setdefault((total.stage, total.outcome), ({}, 0.0))
            bins[total.bin] = bins.get(total.bin, 0) + total.runs
            per_series[(total.stage, total.outcome)] = (bins, seconds + total.seconds)
        for (stage, outcome), (bins, seconds) in sorted(per_series.items()):
            runs.add_metric([stage, outcome], sum(bins.values()))
            durations.add_metric([stage, outcome], _histogram(bins), seconds)
        yield runs
        yield durations

        events = deal_event_totals()
        arrived = CounterMetricFamily(
            "vcc_deals_arrived", "New deals from HubSpot, by source.", labels=["source"]
        )
        finished = CounterMetricFamily(
            "vcc_deals_finished", "Deals that ended done or failed.", labels=["outcome"]
        )
        for source in ("sync", "webhook", "import", "reconcile"):
            arrived.add_metric([source], events.get(("arrived", source), 0))
        for outcome in ("done", "failed"):
            finished.add_metric([outcome], events.get((outcome, ""), 0))
        yield arrived
        yield finished

        backlog = pipeline_backlog()
        yield GaugeMetricFamily(
            "vcc_pipeline_backlog", "Deals pending (active in HubSpot).", value=backlog.pending
        )
        oldest = backlog.oldest_pending_at
        yield GaugeMetricFamily(
            "vcc_pipeline_oldest_pending_seconds",
            "How long the longest-waiting pending deal has waited (0: none pending).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        as_of = insights_as_of()
        yield GaugeMetricFamily(
            "vcc_insights_fold_age_seconds",
            "Seconds since the rollups behind the run and deal counters were last folded.",
            value=(now - as_of).total_seconds() if as_of else float("nan"),
        )

        writebacks = GaugeMetricFamily(
            "vcc_writebacks",
            "Outcomes for HubSpot by state (sent ones not counted).",
            labels=["state"],
        )
        for state, n in deal_writebacks_by_state().items():
            writebacks.add_metric([state], n)
        yield writebacks

        yield from self._hubspot(now)

    def _hubspot(self, now: datetime) -> Iterator[Metric]:
        syncs = CounterMetricFamily(
            "vcc_hubspot_sync_runs",
            "Sync runs ended, by kind and outcome.",
            labels=["kind", "outcome"],
        )
        sync_durations = HistogramMetricFamily(
            "vcc_hubspot_sync_duration_seconds",
            "Sync run durations (succeeded and failed), by kind.",
            labels=["kind"],
        )
        counted: dict[tuple[str, str], int] = {}
        timed: dict[str, tuple[dict[int, int], float]] = {}
        for kind, status, bin_, n, seconds in sync_run_totals():
            counted[(kind, status)] = counted.get((kind, status), 0) + n
            if status != "skipped":
                bins, total = timed.setdefault(kind, ({}, 0.0))
                bins[bin_] = bins.get(bin_, 0) + n
                timed[kind] = (bins, total + seconds)
        for (kind, status), n in sorted(counted.items()):
            syncs.add_metric([kind, status], n)
        for kind, (bins, seconds) in sorted(timed.items()):
            sync_durations.add_metric([kind], _histogram(bins), seconds)
        yield syncs
        yield sync_durations

        requests = CounterMetricFamily(
            "vcc_hubspot_requests", "Requests sent to HubSpot, retries included.", labels=["kind"]
        )
        limited = CounterMetricFamily(
            "vcc_hubspot_rate_limited", "429 answers from HubSpot.", labels=["kind"]
        )
        totals = build_request_counts().totals()
        for kind in KINDS:
            requests.add_metric([kind], totals.get((kind, "requests"), 0))
            limited.add_metric([kind], totals.get((kind, "rate_limited"), 0))
        yield requests
        yield limited

        daily = build_daily_quota().status()
        if daily.remaining is not None:
            yield GaugeMetricFamily(
                "vcc_hubspot_daily_remaining",
                "HubSpot's daily API calls left, as it last said.",
                value=daily.remaining,
            )
        if daily.limit is not None:
            yield GaugeMetricFamily(
                "vcc_hubspot_daily_limit", "HubSpot's daily API calls.", value=daily.limit
            )
        yield GaugeMetricFamily(
            "vcc_hubspot_daily_limit_reached",
            "1 while HubSpot's daily limit is reached (no call is sent).",
            value=1 if daily.stopped_until else 0,
        )

        health = sync_health(now=now)
        yield GaugeMetricFamily(
            "vcc_health_status",
            "The system's health: 0 ok, 1 degraded, 2 failing.",
            value=HEALTH_VALUES[health.status],
        )
        reasons = GaugeMetricFamily(
            "vcc_health_reason", "1 for each reason health gives.", labels=["code", "severity"]
        )
        for reason in health.reasons:
            reasons.add_metric([reason.code, reason.severity], 1)
        yield reasons


def _allowed(request: HttpRequest) -> int | None:
    """None when the scrape may go on, else the status to refuse it with."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        return None if hmac.compare_digest(given.encode(), expected.encode()) else 401
    return None if request.META.get("REMOTE_ADDR") in LOOPBACK else 403


def metrics(request: HttpRequest) -> HttpResponse:
    refused = _allowed(request)
    if refused == 401:
        response = HttpResponse(
            "A bearer token is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refused:
        return HttpResponse(
            "Metrics answer loopback only while METRICS_TOKEN is unset.\n",
            status=403,
            content_type="text/plain",
        )
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
