"""Fixtures for the simulator's tests (the HubSpot app's own fixtures apply too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubspot.simulator.process import RunningSimulator, start_simulator


@pytest.fixture(scope="module")
def shared_simulator() -> Iterator[RunningSimulator]:
    """One simulator for the tests that only read, or change one deal each (starting one
    takes about a second). Tests that turn knobs or add deals start their own."""
    with start_simulator(deals=300, seed=3, extra_args=["--search-rps", "0"]) as sim:
        yield sim
