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
