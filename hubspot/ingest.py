"""Deals read from HubSpot, handed to the `deals` app's one upsert: the sync, webhooks and
imports all come in through `hubspot_deals_upsert`."""

from collections.abc import Sequence
from datetime import datetime

from deals.services import DealFromHubspot, UpsertResult, deals_upsert_from_hubspot

from .types import HubspotDeal


def hubspot_deals_upsert(
    *, deals: Sequence[HubspotDeal], now: datetime, source: str
) -> UpsertResult:
    """Upsert these deals by HubSpot id; new ones enter the pipeline after commit."""
    return deals_upsert_from_hubspot(
        deals=[
            DealFromHubspot(
                hubspot_deal_id=deal.hubspot_deal_id,
                name=deal.name,
                amount=deal.amount,
                deal_stage=deal.deal_stage,
                hubspot_created_at=deal.created_at,
                hubspot_checked_in_at=deal.checked_in_at,
            )
            for deal in deals
        ],
        now=now,
        source=source,
    )
