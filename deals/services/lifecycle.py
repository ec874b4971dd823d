"""What HubSpot does to a deal's existence: deletion (archived) and restore.

HubSpot sends these as webhooks, late, out of order and more than once, so each change
takes effect only if it is newer than the last one applied (`hubspot_state_at`), and
applying one twice changes nothing.

- Archived: a queued job does nothing and a running pipeline stops at its next stage
  boundary (deals/pipeline.py), never mid-stage; its unsent outcome is dropped (HubSpot has
  no deal to write it to); operators' actions are refused (actions.py).
- Restored: active again in the status it had; a pending deal is sent to a worker again.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ..models import Deal, DealWriteback
from .enqueue import deal_enqueue


def _newer_than(at: datetime) -> Q:
    return Q(hubspot_state_at__isnull=True) | Q(hubspot_state_at__lt=at)


def deals_archive(*, hubspot_deal_ids: Sequence[str], at: datetime) -> int:
    """Mark these deals deleted in HubSpot at `at`; returns how many changed."""
    with transaction.atomic():
        deals = Deal.objects.filter(
            _newer_than(at),
            hubspot_deal_id__in=list(hubspot_deal_ids),
            hubspot_state=Deal.HubspotState.ACTIVE,
        )
        ids = list(deals.values_list("id", flat=True))
        changed = Deal.objects.filter(id__in=ids).update(
            hubspot_state=Deal.HubspotState.ARCHIVED, hubspot_state_at=at, updated_at=at
        )
        # Outcomes being sent right now settle as HubSpot answers (not found).
        DealWriteback.objects.filter(deal_id__in=ids, state=DealWriteback.State.QUEUED).delete()
    return changed


def deals_restore(*, hubspot_deal_ids: Sequence[str], at: datetime) -> int:
    """Mark these deals restored in HubSpot at `at`; returns how many changed. A pending
    deal's pipeline goes on (its job did nothing while it was archived)."""
    with transaction.atomic():
        deals = Deal.objects.filter(
            _newer_than(at),
            hubspot_deal_id__in=list(hubspot_deal_ids),
            hubspot_state=Deal.HubspotState.ARCHIVED,
        )
        restored = list(deals.values_list("id", "hubspot_deal_id", "status"))
        Deal.objects.filter(id__in=[r[0] for r in restored]).update(
            hubspot_state=Deal.HubspotState.ACTIVE, hubspot_state_at=at, updated_at=at
        )
        for deal_id, hubspot_deal_id, status in restored:
            if status == Deal.Status.PENDING:
                deal_enqueue(deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason="restore")
    return len(restored)
