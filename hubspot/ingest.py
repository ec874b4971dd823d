"""Deals read from HubSpot, handed to the `deals` app's one upsert: the sync, webhooks and
imports all come in through `hubspot_deals_upsert`."""

from collections.abc import Sequence
from datetime import datetime

from deals.services import UpsertResult, deals_upsert_from_hubspot

from .types import HubspotDeal


def hubspot_deals_upsert(
    *, deals: Sequence[HubspotDeal], now: datetime, source: str
) -> UpsertResult:
    """Upsert these deals by HubSpot id; new ones enter the pipeline after commit."""
    return deals_upsert_from_hubspot(deals=deals, now=now, source=source)
