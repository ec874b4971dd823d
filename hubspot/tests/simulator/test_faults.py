"""The simulator's injected faults (faults.py), and our client surviving them."""

from __future__ import annotations

import json
import time

import pytest
import requests

from hubspot.tests.simulator.helpers import (
    SEARCH,
    WIDE,
    search,
    session_for,
    sim_client,
)


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
