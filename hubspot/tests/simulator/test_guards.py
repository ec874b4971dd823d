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
