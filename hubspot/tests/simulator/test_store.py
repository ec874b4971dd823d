"""The simulator's store (store.py): search sees changes only after the index lag, on a
clock the test moves (nothing here depends on how fast the machine is)."""

from __future__ import annotations

from datetime import UTC, datetime

from hubspot.simulator.data import DealGenerator, DealRecord
from hubspot.simulator.search import parse_search_request
from hubspot.simulator.store import DealStore

CHECKED_IN = "checked_in_at"
LAG = 1.5


def _store_and_clock() -> tuple[DealStore, list[float]]:
    now = [1000.0]
    return DealStore(checked_in_property=CHECKED_IN, clock=lambda: now[0]), now


def _searched(store: DealStore, deal_id: int) -> list[dict]:
    same_id = {"propertyName": "hs_object_id", "operator": "EQ", "value": str(deal_id)}
    body = {"filterGroups": [{"filters": [same_id]}], "properties": ["dealstage"]}
    _, entries = store.search(parse_search_request(body, types=store.types))
    return [entry.properties for entry in entries]


def _new_deal() -> DealRecord:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    return DealGenerator(seed=1, checked_in_property=CHECKED_IN).make(
        checked_in_at=when, now=when, missing_amount_share=0, epoch_ms_share=0
    )


def test_search_sees_an_added_deal_only_after_the_index_lag():
    store, now = _store_and_clock()
    record = _new_deal()

    store.add(record, index_lag=LAG)

    assert store.get(record.id) is record  # a read by id sees it at once
    assert _searched(store, record.id) == []
    now[0] += LAG - 0.01
    assert _searched(store, record.id) == []
    now[0] += 0.02
    assert len(_searched(store, record.id)) == 1


def test_search_sees_a_change_only_after_the_index_lag():
    store, now = _store_and_clock()
    record = _new_deal()
    store.add(record, index_lag=0)

    store.update(
        record.id, {"dealstage": "lagging"}, modified_at="2030-01-02T00:00:00Z", index_lag=LAG
    )

    assert store.get(record.id).properties["dealstage"] == "lagging"  # type: ignore[union-attr]
    assert _searched(store, record.id)[0]["dealstage"] != "lagging"
    now[0] += LAG + 0.01
    assert _searched(store, record.id)[0]["dealstage"] == "lagging"


def test_a_deleted_deal_can_be_restored_for_90_days_then_it_is_gone():
    wall = [1_000_000.0]
    store = DealStore(checked_in_property=CHECKED_IN, wall_clock=lambda: wall[0])
    kept, lost = (
        _new_deal(),
        DealGenerator(seed=2, checked_in_property=CHECKED_IN).make(
            checked_in_at=datetime(2030, 1, 1, tzinfo=UTC),
            now=datetime(2030, 1, 1, tzinfo=UTC),
            missing_amount_share=0,
            epoch_ms_share=0,
        ),
    )
    lost.id = kept.id + 1
    store.add(kept, index_lag=0)
    store.add(lost, index_lag=0)
    store.archive(kept.id, archived_at="2030-01-02T00:00:00.000Z")
    store.archive(lost.id, archived_at="2030-01-02T00:00:00.000Z")

    assert store.get(kept.id) is None and _searched(store, kept.id) == []
    wall[0] += 90 * 86400 - 1
    assert store.restore(kept.id, modified_at="2030-04-01T00:00:00.000Z", index_lag=0) is kept
    wall[0] += 2
    assert store.restore(lost.id, modified_at="2030-04-01T00:00:00.000Z", index_lag=0) is None
    assert store.get_archived(lost.id) is None
    assert store.get(kept.id) is kept and len(_searched(store, kept.id)) == 1
    assert kept.properties["hs_lastmodifieddate"] == "2030-04-01T00:00:00.000Z"
