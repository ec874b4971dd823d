"""Deals arriving from HubSpot, by whichever way (the poller, webhooks, imports): one door.

A batch is written with a single INSERT ... ON CONFLICT (hubspot_deal_id). Only
HubSpot-owned fields are written on conflict, and only when one of them changed, so
`updated_at` moves only for a real change and the pipeline's `status` / `current_stage`
are never touched. A new deal is told apart from an existing one by its id: each row is
offered with a fresh UUID, and RETURNING gives back the id the row ended up with. New
deals are handed to the pipeline once the caller's transaction commits.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.db import connection

from ..models import Deal, Stage
from .enqueue import deals_enqueue

logger = logging.getLogger(__name__)

# HubSpot is the source of truth for these; the pipeline owns the rest.
HUBSPOT_OWNED = ("name", "amount", "deal_stage", "hubspot_created_at", "hubspot_checked_in_at")
_COLUMNS = (
    "id",
    "hubspot_deal_id",
    *HUBSPOT_OWNED,
    "status",
    "current_stage",
    "enqueued_at",
    "created_at",
    "updated_at",
)
_FIELDS = [Deal._meta.get_field(column) for column in _COLUMNS]
_AMOUNT = Deal._meta.get_field("amount")
_MAX_AMOUNT = 10 ** (_AMOUNT.max_digits - _AMOUNT.decimal_places)
_ROW = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"


@dataclass(frozen=True)
class DealFromHubspot:
    """A deal as HubSpot has it: the fields the `deals` table keeps from HubSpot."""

    hubspot_deal_id: str
    name: str
    amount: Decimal | None
    deal_stage: str | None
    hubspot_created_at: datetime | None
    hubspot_checked_in_at: datetime | None


@dataclass(frozen=True)
class RejectedDeal:
    """A deal our columns cannot hold, and why; the rest of its batch is written."""

    hubspot_deal_id: str
    reason: str


@dataclass(frozen=True)
class UpsertResult:
    created: list[tuple[uuid.UUID, str]]  # (deal id, HubSpot id) of each new deal
    updated: int
    unchanged: int
    rejected: list[RejectedDeal]


def _storable(deal: DealFromHubspot) -> DealFromHubspot | RejectedDeal:
    """The deal as our columns can hold it, or why it cannot be stored.

    One value PostgreSQL refuses would fail the whole batch, and every later sync with it,
    so such a deal is set aside (and logged) instead.
    """
    if deal.amount is not None and abs(deal.amount) >= _MAX_AMOUNT:
        reason = f"amount {deal.amount} does not fit numeric({_AMOUNT.max_digits}, 2)"
        logger.warning(
            "hubspot_deal_invalid",
            extra={"hubspot_deal_id": deal.hubspot_deal_id, "reason": reason},
        )
        return RejectedDeal(hubspot_deal_id=deal.hubspot_deal_id, reason=reason)
    texts = {"name": deal.name, "deal_stage": deal.deal_stage}
    if any(text and "\x00" in text for text in texts.values()):
        # PostgreSQL text cannot hold NUL characters; they carry no meaning in a name.
        return replace(deal, **{k: v.replace("\x00", "") if v else v for k, v in texts.items()})
    return deal


def deals_upsert_from_hubspot(
    *, deals: Sequence[DealFromHubspot], now: datetime, source: str
) -> UpsertResult:
    """Insert new deals (pending, at intake) and update the HubSpot fields of changed ones.

    New deals are enqueued for the pipeline when the caller's transaction commits; `source`
    says which way they came in (logged with each enqueue). Run it inside the caller's
    transaction to make the batch and the caller's own bookkeeping one write.
    """
    checked = [_storable(deal) for deal in deals]
    rejected = [deal for deal in checked if isinstance(deal, RejectedDeal)]
    # The last of several versions of one deal in a batch wins, as it would one by one.
    by_hubspot_id = {
        deal.hubspot_deal_id: deal for deal in checked if isinstance(deal, DealFromHubspot)
    }
    if not by_hubspot_id:
        return UpsertResult(created=[], updated=0, unchanged=0, rejected=rejected)
    offered = {hubspot_id: uuid.uuid4() for hubspot_id in by_hubspot_id}
    params: list = []
    for hubspot_id, deal in by_hubspot_id.items():
        values = (
            offered[hubspot_id],
            hubspot_id,
            *(getattr(deal, column) for column in HUBSPOT_OWNED),
            Deal.Status.PENDING,
            Stage.INTAKE,
            now,  # enqueued_at: handed to the pipeline at commit
            now,
            now,
        )
        params += [f.get_db_prep_save(v, connection) for f, v in zip(_FIELDS, values, strict=True)]

    sql = (
        f"INSERT INTO deals ({', '.join(_COLUMNS)}) VALUES {', '.join([_ROW] * len(offered))} "
        "ON CONFLICT (hubspot_deal_id) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*HUBSPOT_OWNED, "updated_at"))
        + " WHERE "
        + " OR ".join(f"deals.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in HUBSPOT_OWNED)
        + " RETURNING id, hubspot_deal_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = [(deal_id, hubspot_id) for deal_id, hubspot_id in cursor]

    created = [(deal_id, hid) for deal_id, hid in returned if deal_id == offered[hid]]
    deals_enqueue(deals=created, reason=source)
    return UpsertResult(
        created=created,
        updated=len(returned) - len(created),
        unchanged=len(offered) - len(returned),
        rejected=rejected,
    )
