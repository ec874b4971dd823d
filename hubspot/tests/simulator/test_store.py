"""The simulator's store (store.py): search sees changes only after the index lag."""

from __future__ import annotations

import time

from hubspot.tests.simulator.helpers import (
    search,
    session_for,
)
from vcc.testing import wait_until


def test_search_sees_added_and_changed_deals_only_after_the_index_lag(start_hubspot_simulator):
    lag = 1.5
    sim = start_hubspot_simulator(
        deals=20, extra_args=["--search-rps", "0", "--index-lag", str(lag)]
    )
    session = session_for(sim)
    checked_in = "2030-01-01T00:00:00Z"

    before_adding = time.monotonic()
    [deal_id] = sim.add_deals(count=1, checked_in_at=checked_in)
    same_id = {"propertyName": "hs_object_id", "operator": "EQ", "value": deal_id}
    by_id = {"filterGroups": [{"filters": [same_id]}], "properties": ["dealstage"]}

    def searched() -> list[dict]:
        return search(session, sim, **by_id).json()["results"]

    read_at_once = session.get(sim.base_url + f"/crm/v3/objects/deals/{deal_id}")
    assert read_at_once.status_code == 200
    assert searched() == []
    wait_until(lambda: len(searched()) == 1, timeout=10, what="the new deal in search")
    assert time.monotonic() - before_adding >= lag

    session.post(
        sim.base_url + "/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": deal_id, "properties": {"dealstage": "lagging"}}]},
    )
    assert searched()[0]["properties"]["dealstage"] != "lagging"
    wait_until(
        lambda: searched()[0]["properties"]["dealstage"] == "lagging",
        timeout=10,
        what="the change in search",
    )
