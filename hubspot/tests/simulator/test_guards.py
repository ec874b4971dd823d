"""The simulator's guards (guards.py): HubSpot's 401 without the right token, and its 429
past the search rate."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import requests

from hubspot.tests.simulator.helpers import (
    SEARCH,
    search,
    session_for,
)


def test_requests_without_or_with_a_wrong_token_get_hubspots_401(shared_simulator):
    sim = shared_simulator
    refused_before = sim.stats()["responses"].get("401", 0)
    anonymous = requests.post(sim.base_url + SEARCH, json={}, timeout=10)
    wrong = search(session_for(sim, token="nope"), sim)
    basic = requests.get(
        sim.base_url + "/crm/objects/2026-09/deals/1",
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


BATCH_READ = "/crm/objects/2026-09/deals/batch/read"


def test_non_search_answers_carry_hubspots_rate_headers_and_search_none(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=5, extra_args=["--general-limit-10s", "100"])
    session = session_for(sim)

    read = session.post(sim.base_url + BATCH_READ, json={"inputs": [{"id": "1"}]}, timeout=10)
    found = search(session, sim)

    assert read.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert read.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(read.headers["X-HubSpot-RateLimit-Remaining"]) == 99
    assert "X-HubSpot-RateLimit-Daily" not in read.headers  # no daily cap set
    assert not any(name.lower().startswith("x-hubspot-ratelimit") for name in found.headers)


def test_past_the_daily_cap_every_call_but_search_gets_a_daily_429_until_the_reset(
    start_hubspot_simulator,
):
    sim = start_hubspot_simulator(deals=5, extra_args=["--daily-limit", "2"])
    session = session_for(sim)

    def read() -> requests.Response:
        return session.post(sim.base_url + BATCH_READ, json={"inputs": [{"id": "1"}]}, timeout=10)

    first, second, third = read(), read(), read()

    assert first.headers["X-HubSpot-RateLimit-Daily"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert second.status_code < 300 and second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert third.status_code == 429 and third.json()["policyName"] == "DAILY"
    assert search(session, sim).status_code == 200
    sim.reset_daily_limit()
    assert read().status_code < 300
