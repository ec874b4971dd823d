"""Fixtures for the HubSpot app's tests.

- `start_hubspot_simulator(**kwargs)`: starts a simulator subprocess (arguments as
  `hubspot.simulator.process.start_simulator`), stopped when the test ends.
- `hubspot_simulator`: a small simulator (300 deals, search limit off), one per test.
- `no_wait_limiter`, `sleeps`: a rate limiter that never waits, and a fake `sleep` that
  records what the client would have slept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from hubspot.simulator.process import RunningSimulator, start_simulator


class NoWaitLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0


class RecordedSleeps(list):
    """A `sleep` stand-in: remembers each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def no_wait_limiter() -> NoWaitLimiter:
    return NoWaitLimiter()


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def start_hubspot_simulator() -> Iterator[Callable[..., RunningSimulator]]:
    with ExitStack() as stack:

        def start(**kwargs: Any) -> RunningSimulator:
            return stack.enter_context(start_simulator(**kwargs))

        yield start


@pytest.fixture
def hubspot_simulator(
    start_hubspot_simulator: Callable[..., RunningSimulator],
) -> RunningSimulator:
    return start_hubspot_simulator(deals=300, seed=3, extra_args=["--search-rps", "0"])
