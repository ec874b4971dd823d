"""The simulator's generated deals (data.py): deterministic for a seed, with the shares of
epoch-ms values and missing amounts asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hubspot.simulator.data import DealGenerator, generate_deals
from hubspot.tests.simulator.helpers import (
    CHECKED_IN,
    WIDE,
    all_deals,
    ms,
    session_for,
    sim_client,
)


def test_the_same_seed_gives_the_same_deals():
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def deals(seed: int) -> list[tuple]:
        factory = DealGenerator(seed=seed, checked_in_property=CHECKED_IN)
        generated = generate_deals(
            factory,
            seed=seed,
            count=200,
            days=10,
            now=now,
            same_second=20,
            same_second_at=now - timedelta(days=5),
            missing_amount_share=0.1,
            epoch_ms_share=0.2,
        )
        return [(d.id, sorted(d.properties.items(), key=str)) for d in generated]

    assert deals(7) == deals(7)
    assert deals(7) != deals(8)
    amounts = [dict(p)["amount"] for _, p in deals(7)]
    assert 5 <= amounts.count(None) <= 40
    checked = [dict(p)[CHECKED_IN] for _, p in deals(7)]
    assert 10 <= sum(c.isdigit() for c in checked) <= 70  # the epoch-ms share
    same = [
        c
        for c in checked
        if c in ("2025-12-27T00:00:00.000Z", str(ms("2025-12-27T00:00:00+00:00")))
    ]
    assert len(same) == 20


def test_epoch_ms_values_and_missing_amounts_reach_the_client(start_hubspot_simulator):
    sim = start_hubspot_simulator(
        deals=400,
        extra_args=[
            "--search-rps",
            "0",
            "--epoch-ms-share",
            "0.5",
            "--missing-amount-share",
            "0.2",
        ],
    )
    session = session_for(sim)

    raw = [d["properties"][CHECKED_IN] for d in all_deals(session, sim)]
    deals = [d for p in sim_client(sim).search_checked_in(**WIDE) for d in p.deals]

    assert 100 <= sum(value.isdigit() for value in raw) <= 300
    assert len(deals) == 400
    assert 40 <= sum(d.amount is None for d in deals) <= 120
