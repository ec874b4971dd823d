"""Fixtures for the HubSpot app's tests.

- `start_hubspot_simulator(**kwargs)`: starts a simulator subprocess (arguments as
  `hubspot.simulator.process.start_simulator`), stopped when the test ends.
- `hubspot_simulator`: a small simulator (300 deals, search limit off), one per test.
- `no_wait_limiter`, `sleeps`: a rate limiter that never waits, and a fake `sleep` that
  records what the client would have slept.
- `account_at_noon`: the HubSpot account's time zone set where it is about noon now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
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
def run_jobs(monkeypatch) -> list[str]:
    """Import jobs are recorded (their import ids), never sent to the broker."""
    sent: list[str] = []
    monkeypatch.setattr("hubspot.tasks.run_import.delay", sent.append)
    return sent


@pytest.fixture
def account_at_noon(settings) -> None:
    """For tests that reach the daily limit: the stop lasts until the account's midnight,
    so run a moment before it, it would end mid-test. Where it is about noon it lasts 11
    hours or more, whenever the test runs."""
    offset = 12 - datetime.now(UTC).hour  # UTC+offset is about noon: -11 to +12
    # Etc/GMT's signs are POSIX's, inverted: Etc/GMT-5 is UTC+5.
    settings.HUBSPOT_ACCOUNT_TIME_ZONE = f"Etc/GMT{-offset:+d}" if offset else "UTC"


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
