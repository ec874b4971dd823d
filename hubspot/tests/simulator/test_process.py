"""The simulator as a subprocess (process.py and the hubspot_simulator command)."""

from __future__ import annotations

from hubspot.simulator.process import start_simulator


def test_the_simulator_prints_its_url_and_stops_cleanly_on_sigterm():
    with start_simulator(deals=10) as sim:
        process = sim.process
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.stats()["deals"] == 10

    assert process.returncode == 0
