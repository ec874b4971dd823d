"""The simulator's write validation (config knobs `refuse_update_*`): the account's rules
refuse inputs of a batch update, named in a 207 or refusing the whole batch (400)."""

from __future__ import annotations

from hubspot.tests.simulator.helpers import session_for


def test_updates_its_validation_rules_refuse_are_named_in_a_207_or_refuse_the_batch(
    start_hubspot_simulator,
):
    sim = start_hubspot_simulator(deals=0)
    one, two, three = sim.add_deals(count=3)
    session = session_for(sim)
    url = sim.base_url + "/crm/objects/2026-09/deals/batch/update"
    inputs = [{"id": i, "properties": {"vcc_status": "done"}} for i in (one, two, three)]

    sim.configure(refuse_update_ids=[int(two)])
    per_input = session.post(url, json={"inputs": inputs}, timeout=10)
    sim.configure(refuse_update_mode="whole_batch")
    whole = session.post(url, json={"inputs": inputs}, timeout=10)
    sim.configure(refuse_update_ids=[], refuse_update_property="vcc_status")
    by_property = session.post(url, json={"inputs": inputs[:1]}, timeout=10)

    assert per_input.status_code == 207
    assert sorted(r["id"] for r in per_input.json()["results"]) == sorted([one, three])
    [error] = per_input.json()["errors"]
    assert error["category"] == "VALIDATION_ERROR" and error["context"] == {"ids": [two]}
    assert whole.status_code == 400 and whole.json()["category"] == "VALIDATION_ERROR"
    assert "context" not in whole.json()  # the whole batch, no input named
    assert by_property.status_code == 400 and "vcc_status" in by_property.json()["message"]
    assert sim.deal(two)["updates"] == []
