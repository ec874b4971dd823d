"""Deals checked in while the simulator runs (arrivals.py): added on request, trickled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hubspot.simulator.arrivals import Arrivals
from hubspot.simulator.config import SimulatorConfig
from hubspot.simulator.data import DealGenerator
from hubspot.simulator.store import DealStore
from hubspot.tests.simulator.helpers import sim_client
from vcc.testing import wait_until


def test_deals_added_at_run_time_are_read_and_searched(hubspot_simulator):
    sim = hubspot_simulator
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    ids = sim.add_deals(count=3, checked_in_at=when, properties={"amount": None})
    pages = list(sim_client(sim).search_checked_in(since=when, until=when))

    assert len(ids) == 3
    assert [d.hubspot_deal_id for p in pages for d in p.deals] == ids
    assert all(d.hubspot_checked_in_at == when and d.amount is None for p in pages for d in p.deals)
    assert sim.stats()["deals"] == 303


def test_the_trickle_adds_deals_on_its_own(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=5, extra_args=["--trickle-seconds", "0.2"])

    wait_until(lambda: sim.stats()["deals"] >= 8, timeout=10, what="three trickled deals")
    recent = list(
        sim_client(sim).search_checked_in(
            since=datetime.now(UTC) - timedelta(minutes=1), until=datetime.now(UTC)
        )
    )

    assert sum(len(p.deals) for p in recent) >= 3


def _arrivals(trickle_seconds: float) -> Arrivals:
    config = SimulatorConfig(trickle_seconds=trickle_seconds)
    store = DealStore(checked_in_property="checked_in_at")
    factory = DealGenerator(seed=1, checked_in_property="checked_in_at")
    return Arrivals(store=store, factory=factory, config=config)


def test_the_trickle_adds_one_deal_each_period_on_a_moved_clock():
    arrivals = _arrivals(trickle_seconds=2)

    next_at = arrivals.trickle_step(now=100.0, next_at=None)
    next_at = arrivals.trickle_step(now=101.9, next_at=next_at)
    assert arrivals.store.counts()["deals"] == 0
    next_at = arrivals.trickle_step(now=102.0, next_at=next_at)
    next_at = arrivals.trickle_step(now=104.0, next_at=next_at)

    assert arrivals.store.counts()["deals"] == 2


def test_the_trickle_turned_off_at_run_time_adds_nothing_more():
    arrivals = _arrivals(trickle_seconds=2)
    next_at = arrivals.trickle_step(now=100.0, next_at=None)

    arrivals.config.update({"trickle_seconds": 0})
    for now in (102.0, 104.0, 1000.0):
        next_at = arrivals.trickle_step(now=now, next_at=next_at)

    assert next_at is None
    assert arrivals.store.counts()["deals"] == 0
