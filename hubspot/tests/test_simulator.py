"""The HubSpot simulator, run as a subprocess through `start_simulator`, and our client and
HubSpot's official SDK against it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
import requests
from django.conf import settings

from hubspot.client import HubspotClient
from hubspot.ratelimit import RedisRateLimiter
from hubspot.simulator.data import DealFactory, generate_deals
from hubspot.simulator.process import RunningSimulator, start_simulator
from hubspot.tests.conftest import NoWaitLimiter, RecordedSleeps

SEARCH = "/crm/v3/objects/deals/search"
CHECKED_IN = "checked_in_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WIDE = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2100, 1, 1, tzinfo=UTC)}


def session_for(sim: RunningSimulator, token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token or sim.token}"
    return session


def search(session: requests.Session, sim: RunningSimulator, **body) -> requests.Response:
    return session.post(sim.base_url + SEARCH, json=body, timeout=10)


def all_deals(session: requests.Session, sim: RunningSimulator) -> list[dict]:
    """Every deal, by paging an unfiltered search."""
    deals: list[dict] = []
    after = None
    properties = ["dealname", "amount", "dealstage", CHECKED_IN]
    while True:
        body = {"limit": 200, "properties": properties, **({"after": after} if after else {})}
        page = search(session, sim, **body).json()
        deals += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return deals


def ms(text: str) -> int:
    if text.isdigit():
        return int(text)
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll until `condition` holds; returns the seconds it took. Fails at the deadline."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def sim_client(sim: RunningSimulator, **kwargs) -> HubspotClient:
    kwargs.setdefault("search_limiter", NoWaitLimiter())
    kwargs.setdefault("sleep", RecordedSleeps())
    return HubspotClient(
        access_token=sim.token,
        base_url=sim.base_url,
        timeout_seconds=5,
        checked_in_property=CHECKED_IN,
        **kwargs,
    )


@pytest.fixture(scope="module")
def shared_simulator() -> Iterator[RunningSimulator]:
    """One simulator for the tests that only read, or change one deal each (starting one
    takes about a second). Tests that turn knobs or add deals start their own."""
    with start_simulator(deals=300, seed=3, extra_args=["--search-rps", "0"]) as sim:
        yield sim


# ------------------------------------------------------------------------------
# Auth, search, paging
# ------------------------------------------------------------------------------


def test_requests_without_or_with_a_wrong_token_get_hubspots_401(shared_simulator):
    sim = shared_simulator
    refused_before = sim.stats()["responses"].get("401", 0)
    anonymous = requests.post(sim.base_url + SEARCH, json={}, timeout=10)
    wrong = search(session_for(sim, token="nope"), sim)
    basic = requests.get(
        sim.base_url + "/crm/v3/objects/deals/1",
        headers={"Authorization": f"Basic {sim.token}"},
        timeout=10,
    )

    for response in (anonymous, wrong, basic):
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found")
        assert uuid.UUID(body["correlationId"])
    assert sim.stats()["responses"]["401"] == refused_before + 3


def test_search_filters_sorts_and_pages_like_hubspot(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    deals = all_deals(session, sim)
    assert len(deals) == 300
    assert [int(d["id"]) for d in deals] == sorted(int(d["id"]) for d in deals)
    props = {d["id"]: d["properties"] for d in deals}
    middle = sorted(ms(p[CHECKED_IN]) for p in props.values())[150]

    def ids_for(filter_groups, **extra) -> list[str]:
        ids: list[str] = []
        while True:
            after = {"after": str(len(ids))} if ids else {}
            response = search(session, sim, filterGroups=filter_groups, limit=200, **extra, **after)
            assert response.status_code == 200, response.text
            ids += [r["id"] for r in response.json()["results"]]
            if "paging" not in response.json():
                assert response.json()["total"] == len(ids)
                return ids

    def expect(predicate) -> list[str]:
        return [deal_id for deal_id, p in props.items() if predicate(p)]

    def amount(p) -> Decimal | None:
        return Decimal(p["amount"]) if p["amount"] else None

    f = lambda name, op, **kw: {"propertyName": name, "operator": op, **kw}  # noqa: E731
    assert ids_for([{"filters": [f("dealstage", "EQ", value="CLOSEDWON")]}]) == expect(
        lambda p: p["dealstage"] == "closedwon"
    )
    assert ids_for([{"filters": [f("dealstage", "NEQ", value="closedwon")]}]) == expect(
        lambda p: p["dealstage"] != "closedwon"
    )
    assert ids_for([{"filters": [f("amount", "GT", value="100000")]}]) == expect(
        lambda p: amount(p) is not None and amount(p) > 100000
    )
    assert ids_for([{"filters": [f("amount", "LTE", value="5000.5")]}]) == expect(
        lambda p: amount(p) is not None and amount(p) <= Decimal("5000.5")
    )
    assert ids_for([{"filters": [f("amount", "NOT_HAS_PROPERTY")]}]) == expect(
        lambda p: p["amount"] is None
    )
    assert ids_for([{"filters": [f("amount", "HAS_PROPERTY")]}]) == expect(
        lambda p: p["amount"] is not None
    )
    stages = ["appointmentscheduled", "contractsent"]
    assert ids_for([{"filters": [f("dealstage", "IN", values=stages)]}]) == expect(
        lambda p: p["dealstage"] in stages
    )
    # Datetime filters take epoch-ms strings (and ISO); GTE + LTE is the sync's window.
    since, until = middle - 86_400_000, middle
    window = [f(CHECKED_IN, "GTE", value=str(since)), f(CHECKED_IN, "LTE", value=str(until))]
    expected_window = expect(lambda p: since <= ms(p[CHECKED_IN]) <= until)
    assert ids_for([{"filters": window}]) == expected_window
    iso_until = (EPOCH + timedelta(milliseconds=until)).isoformat()
    between = f(CHECKED_IN, "BETWEEN", value=str(since), highValue=iso_until)
    assert ids_for([{"filters": [between]}]) == expected_window
    # Groups are ORed.
    either = [
        {"filters": [f("dealstage", "EQ", value="closedwon")]},
        {"filters": [f("dealstage", "EQ", value="closedlost")]},
    ]
    assert ids_for(either) == expect(lambda p: p["dealstage"] in ("closedwon", "closedlost"))
    # hs_object_id GT: the client's partition filter.
    pivot = deals[100]["id"]
    assert ids_for([{"filters": [f("hs_object_id", "GT", value=pivot)]}]) == [
        d["id"] for d in deals[101:]
    ]
    # One sort: amount descending, deals without an amount last.
    by_amount = ids_for([], sorts=[{"propertyName": "amount", "direction": "DESCENDING"}])
    with_amount = [d for d in by_amount if props[d]["amount"]]
    assert [amount(props[d]) for d in with_amount] == sorted(
        (amount(props[d]) for d in with_amount), reverse=True
    )
    assert all(props[d]["amount"] is None for d in by_amount[len(with_amount) :])

    # Paging: `after` is an offset, paging.next only while more remain.
    first = search(session, sim, limit=120).json()
    second = search(session, sim, limit=120, after=first["paging"]["next"]["after"]).json()
    last = search(session, sim, limit=120, after="240").json()
    assert first["total"] == 300 and first["paging"]["next"]["after"] == "120"
    assert [r["id"] for r in first["results"] + second["results"] + last["results"]] == [
        d["id"] for d in deals
    ]
    assert "paging" not in last
    # The spec's path for the same endpoint (0-3 is the deals object type).
    by_type_id = session.post(sim.base_url + "/crm/v3/objects/0-3/search", json={"limit": 5})
    assert [r["id"] for r in by_type_id.json()["results"]] == [d["id"] for d in deals[:5]]
    # Default page size 10; requested properties plus HubSpot's defaults.
    plain = search(session, sim, properties=["dealname"]).json()
    assert len(plain["results"]) == 10
    result = plain["results"][0]
    assert set(result["properties"]) == {
        "dealname",
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
    }
    assert result["archived"] is False and result["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"filterGroups": [{"filters": []}] * 6}, "Too many filter groups"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}] * 7}
                ]
            },
            "Too many filters in a group",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}] * 4}
                ]
                * 4
                + [{"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}] * 3}]
            },
            "Too many filters (19 > 18)",
        ),
        ({"limit": 201}, "limit must be between 1 and 200"),
        ({"sorts": ["amount", "dealname"]}, "Only one sort"),
        ({"filterGroups": [{"filters": [{"propertyName": "a", "operator": "LIKE"}]}]}, "operator"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": CHECKED_IN, "operator": "GT", "value": "soon"}]}
                ]
            },
            "not a valid datetime",
        ),
    ],
)
def test_search_refuses_what_hubspot_refuses(shared_simulator, body, reason):
    response = search(session_for(shared_simulator), shared_simulator, **body)

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert reason in response.json()["message"]


def test_paging_past_10000_results_is_refused_with_400(shared_simulator):
    session = session_for(shared_simulator)

    up_to_the_cap = search(session, shared_simulator, limit=200, after="9800")
    past_the_cap = search(session, shared_simulator, limit=200, after="10000")
    straddling = search(session, shared_simulator, limit=200, after="9900")

    assert up_to_the_cap.status_code == 200
    assert past_the_cap.status_code == 400
    assert straddling.status_code == 400
    assert "10000" in past_the_cap.json()["message"]


def test_the_paging_cursor_reaches_10000_when_more_match(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=10_300, seed=5, extra_args=["--search-rps", "0"])
    session = session_for(sim)

    page = search(session, sim, limit=200, after="9800").json()
    refused = search(session, sim, limit=200, after=page["paging"]["next"]["after"])

    assert page["total"] == 10_300
    assert page["paging"]["next"]["after"] == "10000"
    assert refused.status_code == 400


def test_searches_past_the_rate_get_hubspots_429(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=50, extra_args=["--search-rps", "5", "--search-burst", "2"])
    session = session_for(sim)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: search(session_for(sim), sim), range(12)))
    elapsed = time.monotonic() - started
    sim.configure(retry_after_seconds=2)
    quick_succession = [search(session, sim) for _ in range(10)]

    limited = [a for a in answers if a.status_code == 429]
    admitted = len(answers) - len(limited)
    assert all(a.status_code in (200, 429) for a in answers)
    # A burst of 2, then 5 a second for as long as the requests kept coming.
    assert 2 <= admitted <= 2 + 5 * elapsed + 1
    assert limited
    body = limited[0].json()
    assert body["message"] == "You have reached your secondly limit."
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "SECONDLY")
    assert "Retry-After" not in limited[0].headers
    limited_later = [a for a in quick_succession if a.status_code == 429]
    assert limited_later
    assert all(a.headers["Retry-After"] == "2" for a in limited_later)
    stats = sim.stats()
    assert stats["rate_limited"] == stats["responses"]["429"] == len(limited) + len(limited_later)


# ------------------------------------------------------------------------------
# Reads and writes
# ------------------------------------------------------------------------------


def test_batch_read_answers_207_with_errors_for_missing_ids(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    ids = [d["id"] for d in search(session, sim, limit=3).json()["results"]]
    url = sim.base_url + "/crm/v3/objects/deals/batch/read"

    complete = session.post(
        url, json={"inputs": [{"id": i} for i in ids], "properties": ["amount"]}
    )
    partial = session.post(url, json={"inputs": [{"id": ids[0]}, {"id": "404404"}, {"id": "x"}]})
    too_many = session.post(url, json={"inputs": [{"id": str(i)} for i in range(101)]})

    assert complete.status_code == 200
    assert [r["id"] for r in complete.json()["results"]] == ids
    assert complete.json()["status"] == "COMPLETE"
    assert partial.status_code == 207
    body = partial.json()
    assert [r["id"] for r in body["results"]] == [ids[0]]
    assert body["numErrors"] == 1
    [error] = body["errors"]
    assert (error["status"], error["category"]) == ("error", "OBJECT_NOT_FOUND")
    assert error["context"] == {"ids": ["404404", "x"]}
    assert too_many.status_code == 400


def test_batch_update_persists_changes_and_bumps_the_modified_date(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    deal_id = search(session, sim, limit=1).json()["results"][0]["id"]
    url = sim.base_url + f"/crm/v3/objects/deals/{deal_id}"
    before = session.get(url, params={"properties": "dealstage,vcc_status"}).json()

    updated = session.post(
        sim.base_url + "/crm/v3/objects/deals/batch/update",
        json={
            "inputs": [
                {"id": deal_id, "properties": {"dealstage": "closedwon", "vcc_status": "ok"}},
                {"id": "404404", "properties": {"dealstage": "closedwon"}},
            ]
        },
    )
    after = session.get(url, params={"properties": "dealstage,vcc_status"}).json()
    duplicate = session.post(
        sim.base_url + "/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": deal_id, "properties": {}}, {"id": deal_id, "properties": {}}]},
    )

    assert updated.status_code == 207
    assert [r["id"] for r in updated.json()["results"]] == [deal_id]
    assert updated.json()["errors"][0]["context"] == {"ids": ["404404"]}
    assert after["properties"]["dealstage"] == "closedwon"
    assert after["properties"]["vcc_status"] == "ok"
    assert before["properties"]["vcc_status"] is None
    assert after["properties"]["hs_lastmodifieddate"] > before["properties"]["hs_lastmodifieddate"]
    assert after["updatedAt"] > before["updatedAt"]
    assert duplicate.status_code == 400


def test_get_by_id_returns_the_asked_properties_and_404_when_missing(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    deal_id = search(session, sim, limit=1).json()["results"][0]["id"]

    found = session.get(
        sim.base_url + f"/crm/v3/objects/0-3/{deal_id}",
        params=[("properties", "dealname"), ("properties", CHECKED_IN)],
    )
    missing = session.get(sim.base_url + "/crm/v3/objects/deals/404404")

    assert found.status_code == 200
    assert found.json()["id"] == deal_id
    assert {"dealname", CHECKED_IN} <= set(found.json()["properties"])
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_search_sees_added_and_changed_deals_only_after_the_index_lag(start_hubspot_simulator):
    lag = 1.5
    sim = start_hubspot_simulator(
        deals=20, extra_args=["--search-rps", "0", "--index-lag", str(lag)]
    )
    session = session_for(sim)
    checked_in = "2030-01-01T00:00:00Z"

    before_adding = time.monotonic()
    [deal_id] = sim.add_deals(count=1, checked_in_at=checked_in)
    same_id = {"propertyName": "hs_object_id", "operator": "EQ", "value": deal_id}
    by_id = {"filterGroups": [{"filters": [same_id]}], "properties": ["dealstage"]}

    def searched() -> list[dict]:
        return search(session, sim, **by_id).json()["results"]

    read_at_once = session.get(sim.base_url + f"/crm/v3/objects/deals/{deal_id}")
    assert read_at_once.status_code == 200
    assert searched() == []
    wait_for(lambda: len(searched()) == 1, timeout=10, what="the new deal in search")
    assert time.monotonic() - before_adding >= lag

    session.post(
        sim.base_url + "/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": deal_id, "properties": {"dealstage": "lagging"}}]},
    )
    assert searched()[0]["properties"]["dealstage"] != "lagging"
    wait_for(
        lambda: searched()[0]["properties"]["dealstage"] == "lagging",
        timeout=10,
        what="the change in search",
    )


def test_deals_added_at_run_time_are_read_and_searched(hubspot_simulator):
    sim = hubspot_simulator
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    ids = sim.add_deals(count=3, checked_in_at=when, properties={"amount": None})
    pages = list(sim_client(sim).search_checked_in(since=when, until=when))

    assert len(ids) == 3
    assert [d.hubspot_deal_id for p in pages for d in p.deals] == ids
    assert all(d.checked_in_at == when and d.amount is None for p in pages for d in p.deals)
    assert sim.stats()["deals"] == 303


def test_the_trickle_adds_deals_on_its_own(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=5, extra_args=["--trickle-seconds", "0.2"])

    wait_for(lambda: sim.stats()["deals"] >= 8, timeout=10, what="three trickled deals")
    sim.configure(trickle_seconds=0)
    settled = sim.stats()["deals"]
    recent = list(
        sim_client(sim).search_checked_in(
            since=datetime.now(UTC) - timedelta(minutes=1), until=datetime.now(UTC)
        )
    )

    assert sum(len(p.deals) for p in recent) >= 3
    # Turned off at run time: at most one more (one may have been on its way), not the three
    # more that three trickle periods would bring.
    time.sleep(0.6)
    assert sim.stats()["deals"] <= settled + 1


def test_fault_knobs_apply_at_run_time(hubspot_simulator):
    sim = hubspot_simulator
    session = session_for(sim)

    sim.configure(error_500_share=1)
    server_error = search(session, sim)
    sim.configure(error_500_share=0, error_502_share=1)
    bad_gateway = search(session, sim)
    sim.configure(error_502_share=0, malformed_share=1)
    malformed = search(session, sim)
    sim.configure(malformed_share=0, disconnect_share=1)
    with pytest.raises(requests.ConnectionError):
        search(session_for(sim), sim)
    sim.configure(disconnect_share=0, timeout_share=1, timeout_hold_seconds=2)
    with pytest.raises(requests.Timeout):
        session_for(sim).post(sim.base_url + SEARCH, json={}, timeout=0.3)
    sim.configure(timeout_share=0, latency_ms=300)
    started = time.monotonic()
    slow = search(session, sim)
    slow_seconds = time.monotonic() - started
    sim.configure(latency_ms=0)
    healthy = search(session, sim)

    assert server_error.status_code == 500 and server_error.json()["status"] == "error"
    assert bad_gateway.status_code == 502 and "Bad Gateway" in bad_gateway.text
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.text)
    assert slow.status_code == 200 and slow_seconds >= 0.3
    assert healthy.status_code == 200 and healthy.json()["total"] == 300
    faults = sim.stats()["faults"]
    assert faults == {"500": 1, "502": 1, "malformed": 1, "disconnect": 1, "timeout": 1}


def test_unknown_or_bad_knobs_are_refused(shared_simulator):
    response = requests.post(
        shared_simulator.base_url + "/_simulator/config", json={"error_404_share": 1}, timeout=10
    )
    share = requests.post(
        shared_simulator.base_url + "/_simulator/config", json={"error_500_share": 2}, timeout=10
    )

    assert response.status_code == 400 and "unknown knob" in response.json()["message"]
    assert share.status_code == 400
    assert shared_simulator.config()["error_500_share"] == 0


def test_the_client_survives_a_faulty_simulator(start_hubspot_simulator):
    sim = start_hubspot_simulator(
        deals=600,
        extra_args=[
            "--search-rps",
            "0",
            "--error-500-share",
            "0.15",
            "--error-502-share",
            "0.1",
            "--malformed-share",
            "0.1",
            "--disconnect-share",
            "0.05",
        ],
    )
    client = sim_client(sim, max_retries=8)

    pages = list(client.search_checked_in(**WIDE))
    batch = client.read_deals([d.hubspot_deal_id for d in pages[0].deals])

    ids = [d.hubspot_deal_id for p in pages for d in p.deals]
    assert len(ids) == len(set(ids)) == 600 - sum(len(p.invalid) for p in pages)
    assert len(batch.deals) == 200 and batch.missing_ids == []
    assert client.request_count > len(pages) + 2  # some requests were retried
    assert sum(sim.stats()["faults"].values()) == client.request_count - len(pages) - 2


# ------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_deals():
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def deals(seed: int) -> list[tuple]:
        factory = DealFactory(seed=seed, checked_in_property=CHECKED_IN)
        generated = generate_deals(
            factory,
            seed=seed,
            count=200,
            days=10,
            now=now,
            same_second=20,
            same_second_at=now - timedelta(days=5),
            missing_amount_share=0.1,
            epoch_ms_share=0.2,
        )
        return [(d.id, sorted(d.properties.items(), key=str)) for d in generated]

    assert deals(7) == deals(7)
    assert deals(7) != deals(8)
    amounts = [dict(p)["amount"] for _, p in deals(7)]
    assert 5 <= amounts.count(None) <= 40
    checked = [dict(p)[CHECKED_IN] for _, p in deals(7)]
    assert 10 <= sum(c.isdigit() for c in checked) <= 70  # the epoch-ms share
    same = [
        c
        for c in checked
        if c in ("2025-12-27T00:00:00.000Z", str(ms("2025-12-27T00:00:00+00:00")))
    ]
    assert len(same) == 20


def test_epoch_ms_values_and_missing_amounts_reach_the_client(start_hubspot_simulator):
    sim = start_hubspot_simulator(
        deals=400,
        extra_args=[
            "--search-rps",
            "0",
            "--epoch-ms-share",
            "0.5",
            "--missing-amount-share",
            "0.2",
        ],
    )
    session = session_for(sim)

    raw = [d["properties"][CHECKED_IN] for d in all_deals(session, sim)]
    deals = [d for p in sim_client(sim).search_checked_in(**WIDE) for d in p.deals]

    assert 100 <= sum(value.isdigit() for value in raw) <= 300
    assert len(deals) == 400
    assert 40 <= sum(d.amount is None for d in deals) <= 120


# ------------------------------------------------------------------------------
# The client's search against the simulator
# ------------------------------------------------------------------------------


def test_the_client_gets_a_window_with_12000_deals_in_one_second_complete(start_hubspot_simulator):
    rate = 40
    sim = start_hubspot_simulator(
        deals=12_600, seed=11, extra_args=["--same-second", "12000", "--search-rps", str(rate)]
    )
    same_second = datetime.fromisoformat(sim.stats()["same_second_at"])
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"test:hubspot:sim:{uuid.uuid4()}"
    # The shared limiter at the simulator's own rate (the simulator's default burst of 2 only
    # absorbs network jitter; the client never bursts).
    limiter = RedisRateLimiter(redis_client=redis_client, key=key, rate=rate)
    client = sim_client(sim, search_limiter=limiter, sleep=time.sleep)

    try:
        pages = list(client.search_checked_in(since=same_second, until=same_second))
        everything = list(client.search_checked_in(**WIDE))
    finally:
        redis_client.delete(key)
        redis_client.close()

    ids = [d.hubspot_deal_id for p in pages for d in p.deals]
    assert len(ids) == len(set(ids)) == 12_000
    assert all(d.checked_in_at == same_second for p in pages for d in p.deals)
    assert max(p.query_number for p in pages) == 2
    all_ids = [d.hubspot_deal_id for p in everything for d in p.deals]
    assert len(all_ids) == len(set(all_ids)) == 12_600
    assert set(ids) <= set(all_ids)
    assert client.rate_limited_count == 0
    assert sim.stats()["rate_limited"] == 0


# ------------------------------------------------------------------------------
# The official SDK
# ------------------------------------------------------------------------------

# Run in a fresh interpreter with -P and from another directory: our Django app is also
# called `hubspot` and would shadow the SDK's package of the same name on sys.path.
_SDK_SCRIPT = """
import json, sys
from hubspot import HubSpot
from hubspot.crm.deals import (
    ApiException, BatchInputSimplePublicObjectBatchInput, BatchReadInputSimplePublicObjectId,
    Filter, FilterGroup, PublicObjectSearchRequest, SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
base_url, token = sys.argv[1], sys.argv[2]
deals = HubSpot(access_token=token, host=base_url).crm.deals
found = deals.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(
    filter_groups=[FilterGroup(filters=[
        Filter(property_name="checked_in_at", operator="GTE", value="0"),
        Filter(property_name="hs_object_id", operator="GT", value="0"),
    ])],
    sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    properties=["dealname", "amount", "checked_in_at"], limit=5,
))
ids = [r.id for r in found.results]
one = deals.basic_api.get_by_id(deal_id=ids[0], properties=["dealname", "checked_in_at"])
read = deals.batch_api.read(batch_read_input_simple_public_object_id=(
    BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in [ids[1], "404404"]],
        properties=["dealname"], properties_with_history=[],
    )
))
updated = deals.batch_api.update(batch_input_simple_public_object_batch_input=(
    BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=ids[2], properties={"dealstage": "closedwon"}),
    ])
))
try:
    HubSpot(access_token="wrong", host=base_url).crm.deals.basic_api.get_by_id(deal_id=ids[0])
    refused = None
except ApiException as exc:
    refused = exc.status
print(json.dumps({
    "search": {"type": type(found).__name__, "total": found.total, "ids": ids,
               "after": found.paging.next.after,
               "created_at": type(found.results[0].created_at).__name__,
               "properties": found.results[0].properties},
    "get": {"type": type(one).__name__, "id": one.id, "name": one.properties["dealname"],
            "updated_at": type(one.updated_at).__name__},
    "read": {"type": type(read).__name__, "ids": [r.id for r in read.results],
             "errors": [[e.category, e.context] for e in read.errors], "status": read.status},
    "update": {"type": type(updated).__name__, "ids": [r.id for r in updated.results],
               "stage": updated.results[0].properties["dealstage"]},
    "refused": refused,
}))
"""


def test_the_official_sdk_parses_the_simulators_answers(shared_simulator, tmp_path):
    sim = shared_simulator
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    run = subprocess.run(
        [sys.executable, "-P", "-c", _SDK_SCRIPT, sim.base_url, sim.token],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    search_result = out["search"]
    assert search_result["type"] == "CollectionResponseWithTotalSimplePublicObjectForwardPaging"
    assert search_result["total"] == 300 and len(search_result["ids"]) == 5
    assert search_result["after"] == "5"
    assert search_result["created_at"] == "datetime"
    assert {"dealname", "amount", CHECKED_IN, "hs_object_id"} <= set(search_result["properties"])
    assert out["get"]["type"] == "SimplePublicObjectWithAssociations"
    assert out["get"]["id"] == search_result["ids"][0] and out["get"]["name"]
    assert out["get"]["updated_at"] == "datetime"
    assert out["read"]["type"] == "BatchResponseSimplePublicObjectWithErrors"
    assert out["read"]["ids"] == [search_result["ids"][1]]
    assert out["read"]["errors"] == [["OBJECT_NOT_FOUND", {"ids": ["404404"]}]]
    assert out["read"]["status"] == "COMPLETE"
    assert out["update"]["type"] == "BatchResponseSimplePublicObject"
    assert out["update"]["ids"] == [search_result["ids"][2]]
    assert out["update"]["stage"] == "closedwon"
    assert out["refused"] == 401


# ------------------------------------------------------------------------------
# The process
# ------------------------------------------------------------------------------


def test_the_simulator_prints_its_url_and_stops_cleanly_on_sigterm():
    with start_simulator(deals=10) as sim:
        process = sim.process
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.stats()["deals"] == 10

    assert process.returncode == 0
