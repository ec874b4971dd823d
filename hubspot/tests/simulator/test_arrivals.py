"""Deals checked in while the simulator runs (arrivals.py): added on request, trickled."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from hubspot.tests.simulator.helpers import sim_client
from vcc.testing import wait_until


def test_deals_added_at_run_time_are_read_and_searched(hubspot_simulator):
    sim = hubspot_simulator
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)

    ids = sim.add_deals(count=3, checked_in_at=when, properties={"amount": None})
    pages = list(sim_client(sim).search_checked_in(since=when, until=when))

    assert len(ids) == 3
    assert [d.hubspot_deal_id for p in pages for d in p.deals] == ids
    assert all(d.checked_in_at == when and d.amount is None for p in pages for d in p.deals)
    assert sim.stats()["deals"] == 303


def test_the_trickle_adds_deals_on_its_own(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=5, extra_args=["--trickle-seconds", "0.2"])

    wait_until(lambda: sim.stats()["deals"] >= 8, timeout=10, what="three trickled deals")
    sim.configure(trickle_seconds=0)
    settled = sim.stats()["deals"]
    recent = list(
        sim_client(sim).search_checked_in(
            since=datetime.now(UTC) - timedelta(minutes=1), until=datetime.now(UTC)
        )
    )

    assert sum(len(p.deals) for p in recent) >= 3
    # Turned off at run time: at most one more (one may have been on its way), not the three
    # more that three trickle periods would bring.
    time.sleep(0.6)
    assert sim.stats()["deals"] <= settled + 1
