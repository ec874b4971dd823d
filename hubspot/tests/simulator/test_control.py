"""The simulator's control endpoints (control.py)."""

from __future__ import annotations

import requests


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


def test_updates_lists_each_deals_writes_and_whether_the_client_got_the_answer(
    hubspot_simulator,
):
    sim = hubspot_simulator
    first, second = sim.add_deals(count=2)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    url = sim.base_url + "/crm/objects/2026-09/deals/batch/update"

    answered = session.post(url, json={"inputs": [{"id": first, "properties": {"x": "1"}}]})
    sim.configure(malformed_share=1)
    cut_off = session.post(url, json={"inputs": [{"id": second, "properties": {"x": "2"}}]})
    sim.configure(malformed_share=0)
    updates = sim.updates()

    assert answered.status_code == 200 and cut_off.status_code == 200
    assert set(updates) == {first, second}
    assert [(u["properties"], u["answered"]) for u in updates[first]] == [({"x": "1"}, True)]
    assert [(u["properties"], u["answered"]) for u in updates[second]] == [({"x": "2"}, False)]
