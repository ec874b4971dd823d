"""Deals arriving from HubSpot, by whichever way (the poller, webhooks, imports): one door.

A batch is written with a single statement: INSERT ... ON CONFLICT (hubspot_deal_id), and
the passes it starts. Only HubSpot-owned fields are written on conflict, and only when one
of them changed, so `updated_at` moves only for a real change. A new deal starts its first
pass ("new from HubSpot"). A change to a failed deal is how people fix it (fill in the
missing amount in HubSpot), so it puts the deal back to pending at the stage that failed,
as a new pass ("HubSpot change"); a done deal is left alone unless
PIPELINE_RERUN_DONE_ON_CHANGE, and then starts over at intake. Pending and running deals
keep their pipeline state. A deal that names the deals HubSpot merged into it
(`merged_from`) starts its first pass as "HubSpot merge", and those deals become merged
into it, in the same transaction (lifecycle.py).

Each row is offered with a fresh deal id and a fresh pass id; RETURNING gives back the ids
the row ended up with, which tells a new deal (its offered id) and a (re)started one (its
offered pass) from the rest. The deals are handed to the pipeline once the caller's
transaction commits.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from ..models import Deal, PipelinePass, Stage
from .enqueue import deals_enqueue
from .insights import SOURCES as ARRIVAL_SOURCE
from .lifecycle import deals_merge

logger = logging.getLogger(__name__)

# HubSpot is the source of truth for these; the pipeline owns the rest.
HUBSPOT_OWNED = ("name", "amount", "deal_stage", "hubspot_created_at", "hubspot_checked_in_at")
_COLUMNS = (
    "id",
    "hubspot_deal_id",
    *HUBSPOT_OWNED,
    "status",
    "current_stage",
    "current_pass_id",
    "enqueued_at",
    "created_at",
    "updated_at",
)
_FIELDS = [f for c in _COLUMNS for f in Deal._meta.concrete_fields if f.column == c]
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
    # The deals HubSpot merged into this one: they become `merged` into it (lifecycle.py).
    merged_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectedDeal:
    """A deal our columns cannot hold, and why; the rest of its batch is written."""

    hubspot_deal_id: str
    reason: str


@dataclass(frozen=True)
class UpsertResult:
    created: list[tuple[uuid.UUID, str]]  # (deal id, HubSpot id) of each new deal
    updated: int  # existing deals whose HubSpot fields changed (restarted ones included)
    unchanged: int
    rejected: list[RejectedDeal]
    # (deal id, HubSpot id) of each failed (or done) deal the change sent round again
    restarted: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    merged: int = 0  # deals of ours that a deal of this batch absorbed (now merged into it)


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
    if any(text and "\x00" in text for text in (deal.name, deal.deal_stage)):
        # PostgreSQL text cannot hold NUL characters; they carry no meaning in a name.
        return replace(
            deal,
            name=deal.name.replace("\x00", ""),
            deal_stage=deal.deal_stage and deal.deal_stage.replace("\x00", ""),
        )
    return deal


def deals_upsert_from_hubspot(
    *, deals: Sequence[DealFromHubspot], now: datetime, source: str
) -> UpsertResult:
    """Insert new deals (pending, at intake) and update the HubSpot fields of changed ones,
    sending failed ones that changed round again (see the module's docstring).

    New and restarted deals are enqueued when the caller's transaction commits; `source`
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
    offered = {hubspot_id: (uuid.uuid4(), uuid.uuid4()) for hubspot_id in by_hubspot_id}
    params: list = []
    for hubspot_id, deal in by_hubspot_id.items():
        deal_id, pass_id = offered[hubspot_id]
        values = (
            deal_id,
            hubspot_id,
            *(getattr(deal, column) for column in HUBSPOT_OWNED),
            Deal.Status.PENDING,
            Stage.INTAKE,
            pass_id,
            now,  # enqueued_at: handed to the pipeline at commit
            now,
            now,
        )
        params += [f.get_db_prep_save(v, connection) for f, v in zip(_FIELDS, values, strict=True)]
    offered_deals = [deal_id for deal_id, _ in offered.values()]
    offered_passes = [pass_id for _, pass_id in offered.values()]
    survivors = [offered[h][0] for h, deal in by_hubspot_id.items() if deal.merged_from]
    params += [offered_deals, survivors, now, offered_passes]
    params += [now, ARRIVAL_SOURCE.get(source, source)[:16], offered_deals]

    with connection.cursor() as cursor:
        sql = _upsert_sql(len(offered), rerun_done=settings.PIPELINE_RERUN_DONE_ON_CHANGE)
        cursor.execute(sql, params)
        returned = cursor.fetchall()

    created = [(deal_id, hid) for deal_id, hid, _ in returned if deal_id == offered[hid][0]]
    restarted = [
        (deal_id, hid)
        for deal_id, hid, pass_id in returned
        if pass_id == offered[hid][1] and deal_id != offered[hid][0]
    ]
    merged = sum(
        deals_merge(survivor_hubspot_id=hubspot_id, merged_hubspot_ids=deal.merged_from, at=now)
        for hubspot_id, deal in by_hubspot_id.items()
        if deal.merged_from
    )
    deals_enqueue(deals=created, reason=source)
    deals_enqueue(deals=restarted, reason=f"{source}: HubSpot change")
    if restarted:
        logger.info("hubspot_change_restarted", extra={"source": source, "deals": len(restarted)})
    return UpsertResult(
        created=created,
        updated=len(returned) - len(created),
        unchanged=len(offered) - len(returned),
        rejected=rejected,
        restarted=restarted,
        merged=merged,
    )


# The existing row's values (deals.x) decide; EXCLUDED holds what was offered. A deal
# deleted or merged away in HubSpot is not sent round again (a stale search still finds it).
_RESTART = f"""(deals.hubspot_state = '{Deal.HubspotState.ACTIVE}' AND (
    deals.status = '{Deal.Status.FAILED}'
    OR (deals.status = '{Deal.Status.DONE}' AND {{rerun_done}})))"""


def _upsert_sql(rows: int, *, rerun_done: bool) -> str:
    """The batch as one statement: the upsert, then the passes of the deals it created or
    sent round again (those whose current_pass_id is one offered here), and the count of
    new deals for the insights. Parameters: the rows' values, the offered deal ids, those
    of merge survivors, now, the offered pass ids; now, the source, the offered deal ids."""
    # A setting, not input: written into the statement as a literal.
    restart = _RESTART.format(rerun_done="TRUE" if rerun_done else "FALSE")
    changed = " OR ".join(f"deals.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in HUBSPOT_OWNED)
    hubspot_fields = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*HUBSPOT_OWNED, "updated_at"))
    return f"""
WITH upserted AS (
    INSERT INTO deals ({", ".join(_COLUMNS)}) VALUES {", ".join([_ROW] * rows)}
    ON CONFLICT (hubspot_deal_id) DO UPDATE SET {hubspot_fields},
        status = CASE WHEN {restart} THEN '{Deal.Status.PENDING}' ELSE deals.status END,
        current_stage = CASE WHEN {restart} AND deals.status = '{Deal.Status.DONE}'
                             THEN '{Stage.INTAKE}' ELSE deals.current_stage END,
        current_pass_id = CASE WHEN {restart} THEN EXCLUDED.current_pass_id
                               ELSE deals.current_pass_id END,
        enqueued_at = CASE WHEN {restart} THEN EXCLUDED.enqueued_at ELSE deals.enqueued_at END
    WHERE {changed}
    RETURNING id, hubspot_deal_id, current_pass_id, current_stage
), passes AS (
    INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at, from_stage)
    SELECT current_pass_id, id,
           CASE WHEN id <> ALL(%s::uuid[]) THEN '{PipelinePass.Trigger.HUBSPOT_CHANGE}'
                WHEN id = ANY(%s::uuid[]) THEN '{PipelinePass.Trigger.MERGE}'
                ELSE '{PipelinePass.Trigger.NEW}' END,
           '', %s, current_stage
    FROM upserted WHERE current_pass_id = ANY(%s::uuid[])
), arrived AS (
    -- The insights' count of new deals by source (deals/services/insights.py).
    INSERT INTO deal_event_changes (at, event, source, deals)
    SELECT %s, 'arrived', %s, count(*) FROM upserted
    WHERE id = ANY(%s::uuid[]) HAVING count(*) > 0
)
SELECT id, hubspot_deal_id, current_pass_id FROM upserted
"""
