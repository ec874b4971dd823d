"""Simulated deals: the record type and a deterministic generator.

The same seed gives the same deals (ids, names, amounts, stages, offsets of their times);
times are relative to the moment the simulator starts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

FIRST_ID = 10_000_000_001  # HubSpot deal ids are large integers
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
_COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
)
_PRODUCTS = ("renewal", "expansion", "pilot", "licence", "support plan", "onboarding")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(value: datetime) -> str:
    """HubSpot's datetime form: ISO-8601 in UTC with milliseconds and a Z."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


class DealRecord:
    """One deal as the simulator stores it. `properties` is replaced, never mutated, on each
    change, so the search index can keep an older version (index lag)."""

    __slots__ = ("created_at", "id", "properties", "updated_at")

    def __init__(
        self, *, id: int, properties: dict[str, str | None], created_at: str, updated_at: str
    ) -> None:
        self.id = id
        self.properties = properties
        self.created_at = created_at
        self.updated_at = updated_at


class DealGenerator:
    """Makes deals with increasing ids (gaps of 1-3, as real ids have gaps)."""

    def __init__(self, *, seed: int, checked_in_property: str, first_id: int = FIRST_ID) -> None:
        self.checked_in_property = checked_in_property
        self._rng = random.Random(seed)
        self._next_id = first_id

    def new_id(self) -> int:
        """The next deal id (a merge's new deal takes one too)."""
        deal_id = self._next_id
        self._next_id += self._rng.randint(1, 3)
        return deal_id

    def make(
        self,
        *,
        checked_in_at: datetime,
        now: datetime,
        missing_amount_share: float,
        epoch_ms_share: float,
        overrides: Mapping[str, str | None] | None = None,
    ) -> DealRecord:
        rng = self._rng
        deal_id = self.new_id()
        created = checked_in_at - timedelta(seconds=rng.uniform(3600, 60 * 86400))
        modified = min(now, checked_in_at + timedelta(seconds=rng.uniform(0, 600)))
        modified = max(modified, created)
        amount = None
        if rng.random() >= missing_amount_share:
            amount = f"{rng.randrange(500, 250_000)}.{rng.randrange(100):02d}"
        checked_in = (
            str(epoch_ms(checked_in_at)) if rng.random() < epoch_ms_share else iso(checked_in_at)
        )
        properties: dict[str, str | None] = {
            "hs_object_id": str(deal_id),
            "dealname": f"{rng.choice(_COMPANIES)} {rng.choice(_PRODUCTS)} #{deal_id % 100000}",
            "amount": amount,
            "dealstage": rng.choice(DEAL_STAGES),
            "pipeline": "default",
            "createdate": iso(created),
            "hs_lastmodifieddate": iso(modified),
            self.checked_in_property: checked_in,
        }
        if overrides:
            properties.update(overrides)
            properties["hs_object_id"] = str(deal_id)
        return DealRecord(
            id=deal_id,
            properties=properties,
            created_at=properties.get("createdate") or iso(created),
            updated_at=properties.get("hs_lastmodifieddate") or iso(modified),
        )


def generate_deals(
    factory: DealGenerator,
    *,
    seed: int,
    count: int,
    days: float,
    now: datetime,
    same_second: int,
    same_second_at: datetime,
    missing_amount_share: float,
    epoch_ms_share: float,
) -> list[DealRecord]:
    """`count` deals checked in over the last `days` days, `same_second` of them (picked at
    random among the ids) at exactly `same_second_at`."""
    if same_second > count:
        raise ValueError("same_second cannot exceed the number of deals")
    layout = random.Random(f"layout-{seed}")
    in_same_second = set(layout.sample(range(count), same_second))
    span_ms = int(days * 86_400_000)
    deals = []
    for index in range(count):
        if index in in_same_second:
            checked_in_at = same_second_at
        else:
            checked_in_at = now - timedelta(milliseconds=layout.randrange(max(span_ms, 1)))
        deals.append(
            factory.make(
                checked_in_at=checked_in_at,
                now=now,
                missing_amount_share=missing_amount_share,
                epoch_ms_share=epoch_ms_share,
            )
        )
    return deals
