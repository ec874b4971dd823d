"""Write-back of outcomes to HubSpot (hubspot/services/writeback.py), against the simulator
and canned answers."""

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from deals.models import Deal, DealWriteback
from deals.services import deal_writebacks_claim
from deals.services.writeback import deal_writeback_queue
from deals.tests.factories import DealFactory
from hubspot.quota import build_daily_quota
from hubspot.services import writeback_pass
from hubspot.tests.factories import BATCH_UPDATE_URL, make_client
from hubspot.tests.simulator.helpers import sim_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("writeback_on")]

FINISHED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
FINISHED_MS = "1772368200000"


def finished(hubspot_ids, *, status="done", stage="done") -> list[Deal]:
    deals = [
        DealFactory.create(hubspot_deal_id=i, status=status, current_stage=stage)
        for i in hubspot_ids
    ]
    for deal in deals:
        deal_writeback_queue(deal_id=deal.id, deal_status=status, stage=stage, now=FINISHED)
    return deals


def states() -> dict[str, int]:
    rows = DealWriteback.objects.values_list("state", flat=True)
    return {state: list(rows).count(state) for state in set(rows)}


def test_outcomes_go_out_100_per_batch_update_with_the_configured_properties(hubspot_simulator):
    sim = hubspot_simulator
    ids = sim.add_deals(count=250)
    finished(ids)
    sim.reset_stats()
    client = sim_client(sim)

    result = writeback_pass(client=client)

    assert (result.sent, result.failed, result.remaining, result.requests) == (250, 0, 0, 3)
    assert sim.stats()["requests"] == {"batch_update": 3}
    assert states() == {"complete": 250}
    deal = sim.deal(ids[0])
    assert [update["properties"] for update in deal["updates"]] == [
        {
            "vcc_pipeline_status": "done",
            "vcc_pipeline_stage": "done",
            "vcc_pipeline_finished_at": FINISHED_MS,
        }
    ]
    assert deal["properties"]["vcc_pipeline_status"] == "done"


def test_an_outcome_that_changed_before_the_pass_is_sent_once_with_the_latest_values(
    hubspot_simulator,
):
    [hubspot_id] = hubspot_simulator.add_deals(count=1)
    [deal] = finished([hubspot_id], status="failed", stage="appraisal")
    deal_writeback_queue(deal_id=deal.id, deal_status="done", stage="done", now=FINISHED)

    writeback_pass(client=sim_client(hubspot_simulator))

    updates = hubspot_simulator.deal(hubspot_id)["updates"]
    assert [u["properties"]["vcc_pipeline_status"] for u in updates] == ["done"]


def test_the_property_names_come_from_settings(hubspot_simulator, settings):
    settings.HUBSPOT_WRITEBACK_PROPERTIES = {"status": "deal_outcome"}
    [hubspot_id] = hubspot_simulator.add_deals(count=1)
    finished([hubspot_id], status="failed", stage="intake")

    writeback_pass(client=sim_client(hubspot_simulator))

    [update] = hubspot_simulator.deal(hubspot_id)["updates"]
    assert update["properties"] == {"deal_outcome": "failed"}


def test_with_write_back_off_the_loop_does_nothing(hubspot_simulator, settings):
    [hubspot_id] = hubspot_simulator.add_deals(count=1)
    finished([hubspot_id])
    settings.HUBSPOT_WRITEBACK_ENABLED = False
    hubspot_simulator.reset_stats()

    result = writeback_pass(client=sim_client(hubspot_simulator))

    assert (result.enabled, result.sent, result.requests) == (False, 0, 0)
    assert hubspot_simulator.stats()["requests"] == {}
    assert states() == {"queued": 1}


def test_a_deal_hubspot_does_not_have_is_in_error_and_the_rest_complete(hubspot_simulator):
    [present] = hubspot_simulator.add_deals(count=1)
    finished([present, "404404404"])

    result = writeback_pass(client=sim_client(hubspot_simulator))

    assert (result.sent, result.failed) == (1, 1)
    gone = DealWriteback.objects.get(deal__hubspot_deal_id="404404404")
    assert gone.state == "error" and "no deal with this id" in gone.last_error


@pytest.mark.parametrize("mode", ["per_input", "whole_batch"])
def test_an_update_hubspots_rules_refuse_fails_at_once_with_hubspots_message_and_the_rest_complete(
    hubspot_simulator, mode
):
    sim = hubspot_simulator
    ids = sim.add_deals(count=150)
    refused = [ids[7], ids[120]]
    sim.configure(refuse_update_ids=refused, refuse_update_mode=mode)
    finished(ids)

    result = writeback_pass(client=sim_client(sim))

    assert (result.sent, result.failed) == (148, 2)
    for row in DealWriteback.objects.filter(deal__hubspot_deal_id__in=refused):
        # Final at once: a rule does not change by waiting (staff use "Retry now").
        assert row.state == "error" and row.next_retry_at is None
        assert row.last_error.startswith("HubSpot refused the update (VALIDATION_ERROR): ")
        assert "closedate is required by a validation rule" in row.last_error
    written = sim.updates()
    assert set(written) == set(ids) - set(refused)
    if mode == "whole_batch":
        # The offenders are found by halving, not by failing the 100 others.
        assert sim.stats()["requests"]["batch_update"] < 2 + 2 * 2 * 7


@responses.activate
def test_a_429_is_waited_out_and_the_batch_sent(sleeps):
    responses.post(
        BATCH_UPDATE_URL,
        status=429,
        json={"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
        headers={"Retry-After": "2"},
    )
    responses.post(
        BATCH_UPDATE_URL, json={"status": "COMPLETE", "results": [{"id": "1"}, {"id": "2"}]}
    )
    finished(["1", "2"])

    result = writeback_pass(client=make_client(sleeps))

    assert sleeps == [2.0]
    assert (result.sent, result.failed, result.requests) == (2, 0, 2)


@responses.activate
def test_a_failing_hubspot_stops_the_pass_and_schedules_a_retry(sleeps, settings):
    settings.HUBSPOT_WRITEBACK_BACKOFF_SECONDS = 30
    responses.post(BATCH_UPDATE_URL, status=502, body="bad gateway")
    finished([str(n) for n in range(1, 151)])

    result = writeback_pass(client=make_client(sleeps, max_retries=1))

    assert (result.sent, result.failed, result.remaining) == (0, 100, 150)
    assert len(responses.calls) == 2  # one batch, retried once; the other 50 not tried
    tried = DealWriteback.objects.filter(retry_count=1)
    assert tried.count() == 100
    assert all(
        row.next_retry_at is not None and row.next_retry_at > timezone.now() for row in tried
    )
    first_tried = tried.first()
    assert first_tried is not None
    assert "502" in first_tried.last_error
    assert DealWriteback.objects.filter(retry_count=0, state="queued").count() == 50


@pytest.mark.django_db(transaction=True)
def test_two_loops_at_once_send_each_outcome_once(hubspot_simulator):
    sim = hubspot_simulator
    ids = sim.add_deals(count=500)
    finished(ids)
    sim.reset_stats()
    results = []
    start = threading.Barrier(2)

    def loop() -> None:
        try:
            start.wait()
            results.append(writeback_pass(client=sim_client(sim)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sum(r.sent for r in results) == 500
    # Five full batches when the two claims do not meet; a claim that meets the other's
    # just-committed rows skips them (SKIP LOCKED, then the re-check) and sends a short
    # batch. Either way no batch is empty and none repeats an outcome.
    batches = sim.stats()["requests"]["batch_update"]
    assert 5 <= batches <= 10
    assert sum(r.requests for r in results) == batches
    assert states() == {"complete": 500}
    assert all(len(sim.deal(i)["updates"]) == 1 for i in ids)


@pytest.mark.django_db(transaction=True)
def test_a_send_recorded_while_the_database_drops_the_connection_is_not_sent_again(
    hubspot_simulator, monkeypatch, settings
):
    # Found by bench/chaos.py: PostgreSQL restarting between a batch update and its record
    # left the claim in place, and the lease's end sent the outcomes a second time.
    sim = hubspot_simulator
    ids = sim.add_deals(count=3)
    finished(ids)
    monkeypatch.setattr("hubspot.services.writeback.SETTLE_WAITS", (0.0,) * 5)
    client = sim_client(sim)
    send = client.update_deals

    def send_then_lose_the_connection(updates):
        result = send(updates)
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            row = cursor.fetchone()
        assert row is not None
        pid = row[0]
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            other.close()
        return result

    monkeypatch.setattr(client, "update_deals", send_then_lose_the_connection)
    result = writeback_pass(client=client)
    settings.HUBSPOT_WRITEBACK_LEASE_SECONDS = 0  # any claim left behind is taken again
    again = writeback_pass(client=sim_client(sim))

    assert (result.sent, again.sent) == (3, 0)
    assert states() == {"complete": 3}
    assert [len(sim.deal(i)["updates"]) for i in ids] == [1, 1, 1]


def test_outcomes_a_dead_pass_claimed_are_sent_once_its_lease_has_run_out(
    hubspot_simulator, settings
):
    sim = hubspot_simulator
    ids = sim.add_deals(count=2)
    finished(ids)
    # A pass claimed them 31 s ago and died before settling.
    deal_writebacks_claim(limit=100, now=timezone.now() - timedelta(seconds=31), lease_seconds=1)

    settings.HUBSPOT_WRITEBACK_LEASE_SECONDS = 60
    held = writeback_pass(client=sim_client(sim))
    settings.HUBSPOT_WRITEBACK_LEASE_SECONDS = 30
    taken = writeback_pass(client=sim_client(sim))

    assert (held.sent, taken.sent) == (0, 2)
    assert states() == {"complete": 2}


def test_the_command_runs_one_pass_and_says_what_it_did(hubspot_simulator, settings):
    settings.HUBSPOT_ACCESS_TOKEN = hubspot_simulator.token
    settings.HUBSPOT_BASE_URL = hubspot_simulator.base_url
    finished(hubspot_simulator.add_deals(count=3))
    out = io.StringIO()

    call_command("hubspot_writeback", stdout=out)

    assert out.getvalue().strip() == "sent=3 failed=0 remaining=0"
    assert states() == {"complete": 3}


def test_the_command_says_when_write_back_is_off(settings):
    settings.HUBSPOT_WRITEBACK_ENABLED = False
    out = io.StringIO()

    call_command("hubspot_writeback", stdout=out)

    assert out.getvalue().startswith(
        "sent=0 failed=0 remaining=0 (HUBSPOT_WRITEBACK_ENABLED is off"
    )


@pytest.mark.usefixtures("account_at_noon")
def test_while_hubspots_daily_limit_is_reached_a_pass_claims_nothing(hubspot_simulator):
    quota = build_daily_quota()
    quota.stop()
    finished(hubspot_simulator.add_deals(count=3))

    result = writeback_pass(client=sim_client(hubspot_simulator, quota=quota))

    assert (result.sent, result.failed, result.requests, result.remaining) == (0, 0, 0, 3)
    assert set(DealWriteback.objects.values_list("retry_count", "state")) == {(0, "queued")}
