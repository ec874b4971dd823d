"""The deal lifecycle (lifecycle.py, store.py, crm.py): a deleted deal leaves search and
reads (archived=true still finds it, the list shows it), a restore brings it back, and a
merge makes a new deal that reads of the merged-away ids answer."""

from __future__ import annotations

import requests

from hubspot.tests.simulator.helpers import all_deals, search, session_for

DEALS = "/crm/objects/2026-09/deals"


def _searched(session: requests.Session, sim, deal_id: str) -> list[dict]:
    same_id = {"propertyName": "hs_object_id", "operator": "EQ", "value": deal_id}
    response = search(session, sim, filterGroups=[{"filters": [same_id]}])
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _batch_read(session: requests.Session, sim, ids: list[str], query: str = "") -> dict:
    inputs = {"inputs": [{"id": i} for i in ids], "properties": ["dealname"]}
    response = session.post(sim.base_url + DEALS + "/batch/read" + query, json=inputs, timeout=10)
    return {**response.json(), "http": response.status_code}


def test_a_deleted_deal_leaves_search_and_reads_and_is_listed_as_archived(hubspot_simulator):
    sim = hubspot_simulator
    session = session_for(sim)
    [deal_id] = sim.add_deals(count=1)
    assert len(_searched(session, sim, deal_id)) == 1

    deleted = sim.delete_deal(deal_id)

    assert deleted["archived"] is True and deleted["archivedAt"]
    assert _searched(session, sim, deal_id) == []
    assert deal_id not in {d["id"] for d in all_deals(session, sim)}
    single = session.get(sim.base_url + f"{DEALS}/{deal_id}", timeout=10)
    assert single.status_code == 404 and single.json()["category"] == "OBJECT_NOT_FOUND"
    batch = _batch_read(session, sim, [deal_id])
    assert batch["http"] == 207 and batch["results"] == []
    assert batch["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert batch["errors"][0]["context"]["ids"] == [deal_id]

    archived_single = session.get(
        sim.base_url + f"{DEALS}/{deal_id}", params={"archived": "true"}, timeout=10
    ).json()
    archived_batch = _batch_read(session, sim, [deal_id], "?archived=true")
    listed = session.get(sim.base_url + DEALS, params={"archived": "true"}, timeout=10).json()

    assert (archived_single["id"], archived_single["archived"]) == (deal_id, True)
    assert archived_single["archivedAt"] == deleted["archivedAt"]
    assert archived_batch["http"] == 200
    assert [(r["id"], r["archived"]) for r in archived_batch["results"]] == [(deal_id, True)]
    assert [(r["id"], r["archived"], r["archivedAt"]) for r in listed["results"]] == [
        (deal_id, True, deleted["archivedAt"])
    ]
    assert "paging" not in listed
    assert sim.stats()["archived"] == 1


def test_a_restored_deal_is_back_in_search_and_reads_modified_now(hubspot_simulator):
    sim = hubspot_simulator
    session = session_for(sim)
    [deal_id] = sim.add_deals(count=1)
    before = sim.deal(deal_id)["properties"]["hs_lastmodifieddate"]
    sim.delete_deal(deal_id)

    restored = sim.restore_deal(deal_id)

    assert restored["archived"] is False and restored["hs_lastmodifieddate"] > before
    [found] = _searched(session, sim, deal_id)
    assert found["properties"]["hs_lastmodifieddate"] == restored["hs_lastmodifieddate"]
    single = session.get(sim.base_url + f"{DEALS}/{deal_id}", timeout=10).json()
    assert (single["id"], single["archived"]) == (deal_id, False)
    assert "archivedAt" not in single
    listed = session.get(sim.base_url + DEALS, params={"archived": "true"}, timeout=10).json()
    assert listed["results"] == []
    # Restoring again, or deleting or restoring an unknown deal: not found.
    again = requests.post(sim.base_url + f"/_simulator/deals/{deal_id}/restore", timeout=10)
    unknown = requests.post(sim.base_url + "/_simulator/deals/42/delete", timeout=10)
    assert (again.status_code, unknown.status_code) == (404, 404)


def test_a_merge_makes_a_new_deal_that_reads_of_the_merged_ids_answer(hubspot_simulator):
    sim = hubspot_simulator
    session = session_for(sim)
    primary, other = sim.add_deals(count=2, properties={"dealname": "Primary deal"})
    session.post(
        sim.base_url + DEALS + "/batch/update",
        json={"inputs": [{"id": other, "properties": {"dealname": "Other deal"}}]},
        timeout=10,
    )
    primary_props = sim.deal(primary)["properties"]

    new_id = sim.merge_deals(primary=primary, merged=[other])

    assert new_id not in (primary, other) and int(new_id) > int(other)
    new = sim.deal(new_id)["properties"]
    assert new["hs_merged_object_ids"] == f"{primary};{other}"
    assert new["dealname"] == "Primary deal" and new["hs_object_id"] == new_id
    assert new["hs_lastmodifieddate"] > primary_props["hs_lastmodifieddate"]
    assert _searched(session, sim, primary) == [] and _searched(session, sim, other) == []
    [found] = _searched(session, sim, new_id)
    assert found["id"] == new_id
    for old in (primary, other):
        single = session.get(sim.base_url + f"{DEALS}/{old}", timeout=10)
        assert single.status_code == 200 and single.json()["id"] == new_id
    batch = _batch_read(session, sim, [primary, other])
    assert batch["http"] == 200
    assert [(r["id"], r["properties"]["dealname"]) for r in batch["results"]] == [
        (new_id, "Primary deal")
    ]
    listed = session.get(sim.base_url + DEALS, params={"archived": "true"}, timeout=10).json()
    assert listed["results"] == []  # merged-away deals are not archived ones
    # A merged-away deal cannot be merged or deleted again.
    again = requests.post(
        sim.base_url + "/_simulator/merge", json={"primary": new_id, "merged": [other]}, timeout=10
    )
    deleted = requests.post(sim.base_url + f"/_simulator/deals/{primary}/delete", timeout=10)
    assert (again.status_code, deleted.status_code) == (404, 404)


def test_a_later_merge_keeps_the_earlier_merged_ids_and_reads_follow_both(hubspot_simulator):
    sim = hubspot_simulator
    session = session_for(sim)
    a, b, c = sim.add_deals(count=3)
    first = sim.merge_deals(primary=a, merged=[b])

    second = sim.merge_deals(primary=c, merged=[first])

    assert sim.deal(second)["properties"]["hs_merged_object_ids"] == f"{c};{a};{b};{first}"
    for old in (a, b, first, c):
        assert session.get(sim.base_url + f"{DEALS}/{old}", timeout=10).json()["id"] == second


def test_merge_refuses_bad_bodies(shared_simulator):
    url = shared_simulator.base_url + "/_simulator/merge"
    bodies = [{"primary": "1"}, {"primary": "1", "merged": []}, {"primary": "x", "merged": ["2"]}]
    bodies.append({"primary": "5", "merged": ["5"]})

    statuses = [requests.post(url, json=body, timeout=10).status_code for body in bodies]

    assert statuses == [400, 400, 400, 400]


def test_the_deal_list_pages_by_id_with_an_opaque_cursor(shared_simulator):
    sim = shared_simulator
    session = session_for(sim)
    expected = [d["id"] for d in all_deals(session, sim)]

    listed: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"limit": "100", "properties": "dealname", **({"after": after} if after else {})}
        page = session.get(sim.base_url + DEALS, params=params, timeout=10).json()
        assert all(
            r["archived"] is False and "dealname" in r["properties"] for r in page["results"]
        )
        listed += [r["id"] for r in page["results"]]
        pages += 1
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break

    assert listed == expected and pages == 3
    default = session.get(sim.base_url + "/crm/v3/objects/0-3", timeout=10).json()
    assert [r["id"] for r in default["results"]] == expected[:10]
    assert default["paging"]["next"]["after"] == expected[9]
    too_many = session.get(sim.base_url + DEALS, params={"limit": "101"}, timeout=10)
    assert too_many.status_code == 400
