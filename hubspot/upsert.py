"""Write one page of HubSpot deals into `deals` with a single INSERT ... ON CONFLICT.

Only HubSpot-owned fields are written on conflict, and only when one of them changed, so
`updated_at` moves only for a real change and the pipeline's `status` / `current_stage`
are never touched. A new deal is told apart from an existing one by its id: each row is
offered with a fresh UUID, and RETURNING gives back the id the row ended up with.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import connection

from deals.models import Deal, Stage

from .types import HubspotDeal, InvalidRecord

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


_AMOUNT = Deal._meta.get_field("amount")
_MAX_AMOUNT = 10 ** (_AMOUNT.max_digits - _AMOUNT.decimal_places)


@dataclass(frozen=True)
class UpsertResult:
    created: list[tuple[uuid.UUID, str]]  # (deal id, HubSpot id) of each new deal
    updated: int
    unchanged: int
    rejected: list[InvalidRecord]  # deals our columns cannot hold; the rest are written


def _storable(deal: HubspotDeal) -> HubspotDeal | InvalidRecord:
    """The deal as our columns can hold it, or why it cannot be stored.

    One value PostgreSQL refuses would fail the whole page, and every later sync with it,
    so such a deal is set aside (and logged) instead.
    """
    if deal.amount is not None and abs(deal.amount) >= _MAX_AMOUNT:
        reason = f"amount {deal.amount} does not fit numeric({_AMOUNT.max_digits}, 2)"
        logger.warning(
            "hubspot_deal_invalid",
            extra={"hubspot_deal_id": deal.hubspot_deal_id, "reason": reason},
        )
        return InvalidRecord(hubspot_deal_id=deal.hubspot_deal_id, reason=reason)
    texts = {"name": deal.name, "deal_stage": deal.deal_stage}
    if any(text and "\x00" in text for text in texts.values()):
        # PostgreSQL text cannot hold NUL characters; they carry no meaning in a name.
        return replace(deal, **{k: v.replace("\x00", "") if v else v for k, v in texts.items()})
    return deal


def deals_upsert(*, deals: Sequence[HubspotDeal], now: datetime) -> UpsertResult:
    """Insert new deals (pending, at intake, marked as enqueued now) and update changed ones.

    The caller enqueues `created` after its transaction commits.
    """
    checked = [_storable(deal) for deal in deals]
    rejected = [deal for deal in checked if isinstance(deal, InvalidRecord)]
    by_hubspot_id = {
        deal.hubspot_deal_id: deal for deal in checked if isinstance(deal, HubspotDeal)
    }
    if not by_hubspot_id:
        return UpsertResult(created=[], updated=0, unchanged=0, rejected=rejected)
    offered = {hubspot_id: uuid.uuid4() for hubspot_id in by_hubspot_id}
    fields = [Deal._meta.get_field(column) for column in _COLUMNS]
    params: list = []
    for hubspot_id, deal in by_hubspot_id.items():
        values = (
            offered[hubspot_id],
            hubspot_id,
            deal.name,
            deal.amount,
            deal.deal_stage,
            deal.created_at,
            deal.checked_in_at,
            Deal.Status.PENDING,
            Stage.INTAKE,
            now,
            now,
            now,
        )
        # Each field converts its value for this database (SQLite keeps UUIDs as hex, etc.).
        params += [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]

    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO deals ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * len(offered))} "
        "ON CONFLICT (hubspot_deal_id) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*HUBSPOT_OWNED, "updated_at"))
        + " WHERE "
        + " OR ".join(f"deals.{c} {distinct} EXCLUDED.{c}" for c in HUBSPOT_OWNED)
        + " RETURNING id, hubspot_deal_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = [(uuid.UUID(str(deal_id)), hubspot_id) for deal_id, hubspot_id in cursor]

    created = [(deal_id, hid) for deal_id, hid in returned if deal_id == offered[hid]]
    updated = len(returned) - len(created)
    unchanged = len(offered) - len(returned)
    return UpsertResult(created=created, updated=updated, unchanged=unchanged, rejected=rejected)
