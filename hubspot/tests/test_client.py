"""HubspotClient's calls (search and paging, reads, updates) against canned HTTP answers
(`responses`); no network, no real waiting."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from hubspot.client import HubspotClient
from hubspot.tests.conftest import NoWaitLimiter
from hubspot.tests.factories import (
    BATCH_READ_URL,
    BATCH_UPDATE_URL,
    CHECKED_IN,
    SEARCH_URL,
    SINCE,
    T0,
    UNTIL,
    FakeSearch,
    deal_json,
    iso,
    make_client,
    ms,
    page_json,
    search_all,
)


def _json_body(request: requests.PreparedRequest) -> Any:
    """The JSON body the client sent."""
    assert request.body is not None
    return json.loads(request.body)


# ------------------------------------------------------------------------------
# Search and paging
# ------------------------------------------------------------------------------


@responses.activate
def test_it_pages_through_search_results_with_epoch_ms_filters(sleeps):
    fake = FakeSearch([(100 + i, T0) for i in range(450)])
    fake.register(responses.mock)
    client = make_client(sleeps)

    pages = search_all(client)

    assert [len(p.deals) for p in pages] == [200, 200, 50]
    assert [d.hubspot_deal_id for p in pages for d in p.deals] == [str(100 + i) for i in range(450)]
    assert [b["after"] for b in fake.bodies] == ["0", "200", "400"]
    first = fake.bodies[0]
    assert first["limit"] == 200
    assert first["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert first["filterGroups"] == [
        {
            "filters": [
                {"propertyName": CHECKED_IN, "operator": "GTE", "value": str(ms(SINCE))},
                {"propertyName": CHECKED_IN, "operator": "LTE", "value": str(ms(UNTIL))},
            ]
        }
    ]
    assert CHECKED_IN in first["properties"] and "amount" in first["properties"]
    assert sum(p.request_count for p in pages) == 3 == client.request_count


@responses.activate
def test_it_partitions_past_the_10000_cap(sleeps):
    deals = [(5000 + i * 3, T0 + timedelta(seconds=i % 50)) for i in range(10_450)]
    fake = FakeSearch(deals)
    fake.register(responses.mock)

    pages = search_all(make_client(sleeps))

    ids = [int(d.hubspot_deal_id) for p in pages for d in p.deals]
    assert ids == [deal_id for deal_id, _ in deals]
    assert fake.refused == 0
    assert max(int(b.get("after") or 0) for b in fake.bodies) == 9800
    second_query = [b for b in fake.bodies if len(b["filterGroups"][0]["filters"]) == 3]
    assert second_query[0]["filterGroups"][0]["filters"][2] == {
        "propertyName": "hs_object_id",
        "operator": "GT",
        "value": str(ids[9999]),
    }
    assert second_query[0]["after"] == "0"
    assert {p.query_number for p in pages} == {1, 2}


@responses.activate
def test_it_returns_25000_deals_checked_in_in_the_same_second_exactly_once(sleeps):
    same_second = T0.replace(microsecond=0)
    fake = FakeSearch([(7_000_000 + i * 2, same_second) for i in range(25_000)])
    fake.register(responses.mock)

    pages = search_all(make_client(sleeps), since=same_second, until=same_second)

    ids = [d.hubspot_deal_id for p in pages for d in p.deals]
    assert len(ids) == 25_000
    assert len(set(ids)) == 25_000
    assert fake.refused == 0
    assert len(fake.bodies) == 125
    assert {p.query_number for p in pages} == {1, 2, 3}


@responses.activate
def test_a_page_whose_total_changed_is_dropped_and_the_search_resumes_after_the_last_id(sleeps):
    # Deal 102 leaves the window between the first and second request: with plain offset
    # paging, deal 104 would slide to offset 2 and be skipped.
    first = page_json([deal_json(101), deal_json(102)], total=5, after="2")
    shifted = page_json([deal_json(105)], total=4)
    resumed = page_json([deal_json(103), deal_json(104), deal_json(105)], total=3)
    responses.post(SEARCH_URL, json=first)
    responses.post(SEARCH_URL, json=shifted)
    responses.post(SEARCH_URL, json=resumed)
    client = make_client(sleeps, page_size=2)

    pages = search_all(client)

    ids = [d.hubspot_deal_id for p in pages for d in p.deals]
    assert ids == ["101", "102", "103", "104", "105"]
    third_body = _json_body(responses.calls[2].request)
    assert third_body["filterGroups"][0]["filters"][2]["value"] == "102"
    assert sum(p.request_count for p in pages) == 3


@responses.activate
def test_ids_repeated_by_a_shifted_page_are_returned_once(sleeps):
    responses.post(SEARCH_URL, json=page_json([deal_json(1), deal_json(2)], total=4, after="2"))
    responses.post(SEARCH_URL, json=page_json([deal_json(2), deal_json(3)], total=4))

    pages = search_all(make_client(sleeps, page_size=2))

    assert [d.hubspot_deal_id for p in pages for d in p.deals] == ["1", "2", "3"]


@responses.activate
def test_it_parses_iso_and_epoch_ms_datetimes(sleeps):
    responses.post(
        SEARCH_URL,
        json=page_json(
            [
                deal_json(1, checked_in="2024-01-17T19:55:04.281Z"),
                deal_json(2, checked_in="1579514400000", createdate="1579000000000"),
                deal_json(3, checked_in="2024-01-17T20:55:04+01:00"),
            ]
        ),
    )

    [page] = search_all(make_client(sleeps))

    one, two, three = page.deals
    assert one.hubspot_checked_in_at == datetime(2024, 1, 17, 19, 55, 4, 281000, tzinfo=UTC)
    assert two.hubspot_checked_in_at == datetime(2020, 1, 20, 10, 0, tzinfo=UTC)
    assert two.hubspot_created_at == datetime(2020, 1, 14, 11, 6, 40, tzinfo=UTC)
    assert three.hubspot_checked_in_at == datetime(2024, 1, 17, 19, 55, 4, tzinfo=UTC)
    assert one.amount == Decimal("1000.50")
    assert one.name == "Deal 1" and one.deal_stage == "qualifiedtobuy"
    assert one.updated_at == datetime(2024, 1, 17, 20, 0, tzinfo=UTC)


@responses.activate
def test_records_with_a_missing_or_bad_checked_in_value_are_invalid_and_the_rest_returned(
    sleeps, caplog
):
    missing = deal_json(2)
    del missing["properties"][CHECKED_IN]
    responses.post(
        SEARCH_URL,
        json=page_json(
            [
                deal_json(1),
                missing,
                deal_json(3, checked_in=""),
                deal_json(4, checked_in="next tuesday"),
                deal_json(5),
            ]
        ),
    )

    with caplog.at_level(logging.WARNING, logger="hubspot.client"):
        [page] = search_all(make_client(sleeps))

    assert [d.hubspot_deal_id for d in page.deals] == ["1", "5"]
    assert [r.hubspot_deal_id for r in page.invalid] == ["2", "3", "4"]
    assert "next tuesday" in page.invalid[2].reason
    logged = [r for r in caplog.records if r.getMessage() == "hubspot_deal_invalid"]
    assert [r.hubspot_deal_id for r in logged] == ["2", "3", "4"]
    assert all(r.levelno == logging.WARNING for r in logged)


def test_naive_datetimes_are_refused(sleeps):
    client = make_client(sleeps)
    with pytest.raises(ValueError, match="timezone-aware"):
        next(client.search_checked_in(since=datetime(2024, 1, 1), until=datetime(2024, 1, 2)))


@responses.activate
def test_each_search_request_waits_for_a_rate_limiter_slot(sleeps):
    class HalfSecondLimiter:
        acquired = 0

        def acquire(self) -> float:
            self.acquired += 1
            return 0.5

    limiter = HalfSecondLimiter()
    responses.post(SEARCH_URL, status=429, json={"status": "error", "errorType": "RATE_LIMIT"})
    responses.post(SEARCH_URL, json=page_json([deal_json(1)]))

    search_all(make_client(sleeps, limiter=limiter))

    assert limiter.acquired == 2  # the retry took a slot too
    assert sleeps.count(0.5) == 2


# ------------------------------------------------------------------------------
# Reads and updates
# ------------------------------------------------------------------------------


@responses.activate
def test_read_deals_splits_batches_of_100_and_reports_missing_ids(sleeps):
    wanted = [str(1000 + i) for i in range(250)]
    absent = {"1005", "1150", "1249"}

    def batch_read(request):
        body = json.loads(request.body)
        ids = [item["id"] for item in body["inputs"]]
        found = [deal_json(i) for i in ids if i not in absent]
        missing = [i for i in ids if i in absent]
        payload = {
            "status": "COMPLETE",
            "results": found,
            "startedAt": iso(T0),
            "completedAt": iso(T0),
        }
        if missing:
            payload["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "not found",
                    "context": {"ids": missing},
                }
            ]
        return (207 if missing else 200), {}, json.dumps(payload)

    responses.add_callback(responses.POST, BATCH_READ_URL, callback=batch_read)

    result = make_client(sleeps).read_deals([*wanted, "1000"])  # a repeat is read once

    sizes = [len(_json_body(c.request)["inputs"]) for c in responses.calls]
    assert sizes == [100, 100, 50]
    assert sorted(result.missing_ids) == sorted(absent)
    assert len(result.deals) == 247
    assert result.request_count == 3


@responses.activate
def test_read_deals_names_merged_away_ids_and_returns_their_survivor_once(sleeps):
    survivor = deal_json("3000", hs_merged_object_ids="1001;1002")
    body = {"status": "COMPLETE", "results": [survivor, survivor, deal_json("1003")]}
    body |= {"startedAt": iso(T0), "completedAt": iso(T0)}
    responses.add(responses.POST, BATCH_READ_URL, json=body)

    result = make_client(sleeps).read_deals(["1001", "1002", "1003", "1004"])

    assert result.merged == {"1001": "3000", "1002": "3000"}
    assert [deal.hubspot_deal_id for deal in result.deals] == ["3000", "1003"]
    assert result.deals[0].merged_from == ("1001", "1002")
    assert result.missing_ids == ["1004"]
    asked = _json_body(responses.calls[0].request)["properties"]
    assert "hs_merged_object_ids" in asked


@responses.activate
def test_read_deals_tells_ids_not_found_from_ids_hubspot_failed_to_read(sleeps):
    body = {"status": "COMPLETE", "results": [deal_json("1001")]}
    body |= {"startedAt": iso(T0), "completedAt": iso(T0)}
    body["errors"] = [
        {"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": ["1002"]}},
        {"status": "error", "category": "INTERNAL_ERROR", "context": {"ids": ["1003"]}},
    ]
    responses.add(responses.POST, BATCH_READ_URL, status=207, json=body)

    result = make_client(sleeps).read_deals(["1001", "1002", "1003"])

    assert (result.missing_ids, result.failed_ids) == (["1002"], ["1003"])


@responses.activate
def test_update_deals_batches_of_100_merging_repeated_ids(sleeps):
    def batch_update(request):
        inputs = json.loads(request.body)["inputs"]
        ids = [item["id"] for item in inputs]
        assert len(ids) == len(set(ids)), "HubSpot refuses repeated ids"
        results = [
            deal_json(item["id"], **item["properties"])
            for item in inputs
            if item["id"] != "missing"
        ]
        status = 207 if len(results) < len(inputs) else 200
        return status, {}, json.dumps({"status": "COMPLETE", "results": results})

    responses.add_callback(responses.POST, BATCH_UPDATE_URL, callback=batch_update)
    updates: list[tuple[str, dict[str, str | None]]]
    updates = [(str(i), {"vcc_status": "seen"}) for i in range(150)]
    updates += [("3", {"vcc_note": "x", "vcc_status": None}), ("missing", {"a": "b"})]

    result = make_client(sleeps).update_deals(updates)

    sent = [_json_body(c.request)["inputs"] for c in responses.calls]
    assert [len(batch) for batch in sent] == [100, 51]
    three = next(item for item in sent[0] if item["id"] == "3")
    assert three["properties"] == {"vcc_status": "", "vcc_note": "x"}
    assert len(result.updated_ids) == 150
    assert result.missing_ids == ["missing"]


# ------------------------------------------------------------------------------
# Construction
# ------------------------------------------------------------------------------


def test_a_client_without_a_token_is_refused(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    with pytest.raises(ValueError, match="access token"):
        HubspotClient(search_limiter=NoWaitLimiter())


def test_defaults_come_from_settings(settings):
    settings.HUBSPOT_ACCESS_TOKEN = "from-settings"
    settings.HUBSPOT_BASE_URL = "http://hubspot.example/"
    settings.HUBSPOT_TIMEOUT_SECONDS = 7.5
    settings.HUBSPOT_CHECKED_IN_PROPERTY = "vcc_checked_in"

    client = HubspotClient(search_limiter=NoWaitLimiter())

    assert client.base_url == "http://hubspot.example"
    assert client.timeout_seconds == 7.5
    assert client.checked_in_property == "vcc_checked_in"
    assert "vcc_checked_in" in client.properties
