"""The simulator's CRM endpoints (crm.py) as HubSpot answers them: search and paging, batch
read and update, get by id; our client and HubSpot's official SDK against them."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from hubspot.ratelimit import RedisRateLimiter
from hubspot.tests.simulator.helpers import (
    CHECKED_IN,
    EPOCH,
    WIDE,
    all_deals,
    ms,
    search,
    session_for,
    sim_client,
)


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
        lambda p: (a := amount(p)) is not None and a > 100000
    )
    assert ids_for([{"filters": [f("amount", "LTE", value="5000.5")]}]) == expect(
        lambda p: (a := amount(p)) is not None and a <= Decimal("5000.5")
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
    amounts = [Decimal(props[d]["amount"]) for d in with_amount]
    assert amounts == sorted(amounts, reverse=True)
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
    by_type_id = session.post(sim.base_url + "/crm/objects/2026-09/0-3/search", json={"limit": 5})
    assert [r["id"] for r in by_type_id.json()["results"]] == [d["id"] for d in deals[:5]]
    # The other supported version, and the numbered paths HubSpot serves until 2027.
    for path in ("/crm/objects/2026-03/deals/search", "/crm/v3/objects/deals/search"):
        older = session.post(sim.base_url + path, json={"limit": 5})
        assert [r["id"] for r in older.json()["results"]] == [d["id"] for d in deals[:5]]
    unknown = session.post(sim.base_url + "/crm/objects/2025-09/deals/search", json={})
    assert unknown.status_code == 404
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


def test_batch_read_answers_207_with_errors_for_missing_ids(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    ids = [d["id"] for d in search(session, sim, limit=3).json()["results"]]
    url = sim.base_url + "/crm/objects/2026-09/deals/batch/read"

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
    url = sim.base_url + f"/crm/objects/2026-09/deals/{deal_id}"
    before = session.get(url, params={"properties": "dealstage,vcc_status"}).json()

    updated = session.post(
        sim.base_url + "/crm/objects/2026-09/deals/batch/update",
        json={
            "inputs": [
                {"id": deal_id, "properties": {"dealstage": "closedwon", "vcc_status": "ok"}},
                {"id": "404404", "properties": {"dealstage": "closedwon"}},
            ]
        },
    )
    after = session.get(url, params={"properties": "dealstage,vcc_status"}).json()
    duplicate = session.post(
        sim.base_url + "/crm/objects/2026-09/deals/batch/update",
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
        sim.base_url + f"/crm/objects/2026-09/0-3/{deal_id}",
        params=[("properties", "dealname"), ("properties", CHECKED_IN)],
    )
    missing = session.get(sim.base_url + "/crm/objects/2026-09/deals/404404")

    assert found.status_code == 200
    assert found.json()["id"] == deal_id
    assert {"dealname", CHECKED_IN} <= set(found.json()["properties"])
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"


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
    assert all(d.hubspot_checked_in_at == same_second for p in pages for d in p.deals)
    assert max(p.query_number for p in pages) == 2
    all_ids = [d.hubspot_deal_id for p in everything for d in p.deals]
    assert len(all_ids) == len(set(all_ids)) == 12_600
    assert set(ids) <= set(all_ids)
    assert client.rate_limited_count == 0
    assert sim.stats()["rate_limited"] == 0
