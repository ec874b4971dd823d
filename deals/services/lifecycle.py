"""What HubSpot does to a deal's existence: deletion (archived), restore and merge.

HubSpot sends these as webhooks, late, out of order and more than once, so each change
takes effect only if it is newer than the last one applied (`hubspot_state_at`), and
applying one twice changes nothing.

- Archived: a queued job does nothing and a running pipeline stops at its next stage
  boundary (deals/pipeline.py), never mid-stage; its unsent outcome is dropped (HubSpot has
  no deal to write it to); operators' actions are refused (actions.py).
- Restored: active again in the status it had; a pending deal is sent to a worker again,
  and a finished one's outcome is queued for HubSpot again (the deletion dropped it).
- Merged: HubSpot merges deals A and B into a new deal C (its `hs_merged_object_ids` names
  A and B). C is one deal of ours, brought in by the one upsert like any other (its first
  pass "HubSpot merge", from intake: C is a new deal in HubSpot, with new outcome fields);
  A and B become `merged` into it and stop like archived deals, their history readable
  from C. Merged is final: a late deletion or restore of A changes nothing, and merging
  A again (the same event twice, or C's record read again) changes nothing either. C
  starts no stage while A or B is still running one (deals/pipeline.py), so the deals of
  one merge never run at once.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils.timezone import now

from ..models import Deal, DealWriteback
from .enqueue import deal_enqueue
from .writeback import FINAL_STATUSES, deal_writeback_queue


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
            hubspot_state=Deal.HubspotState.ARCHIVED, hubspot_state_at=at, updated_at=now()
        )
        # Outcomes being sent right now settle as HubSpot answers (not found).
        DealWriteback.objects.filter(deal_id__in=ids, state=DealWriteback.State.QUEUED).delete()
    return changed


def deals_restore(*, hubspot_deal_ids: Sequence[str], at: datetime) -> int:
    """Mark these deals restored in HubSpot at `at`; returns how many changed. A pending
    deal's pipeline goes on (its job did nothing while it was archived); a finished deal's
    outcome, dropped at the deletion, is queued for HubSpot again."""
    with transaction.atomic():
        deals = Deal.objects.filter(
            _newer_than(at),
            hubspot_deal_id__in=list(hubspot_deal_ids),
            hubspot_state=Deal.HubspotState.ARCHIVED,
        )
        restored = list(deals.values_list("id", "hubspot_deal_id", "status", "current_stage"))
        Deal.objects.filter(id__in=[r[0] for r in restored]).update(
            hubspot_state=Deal.HubspotState.ACTIVE, hubspot_state_at=at, updated_at=now()
        )
        sent = set(
            DealWriteback.objects.filter(
                deal_id__in=[r[0] for r in restored],
                state__in=[DealWriteback.State.COMPLETE, DealWriteback.State.QUEUED],
            ).values_list("deal_id", flat=True)
        )
        for deal_id, hubspot_deal_id, status, stage in restored:
            if status == Deal.Status.PENDING:
                deal_enqueue(deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason="restore")
            elif status in FINAL_STATUSES and deal_id not in sent:
                deal_writeback_queue(deal_id=deal_id, deal_status=status, stage=stage, now=now())
    return len(restored)


def deals_merge(
    *, survivor_hubspot_id: str, merged_hubspot_ids: Sequence[str], at: datetime
) -> int:
    """Mark the deals HubSpot merged into `survivor_hubspot_id` as merged into our deal of
    that id (which must exist: the caller upserts it first); returns how many changed.

    Active and archived deals are merged (HubSpot may report a merged-away deal deleted
    before the merge itself); so are deals merged into another survivor that has itself
    been merged into this one. Their unsent outcomes are dropped.
    """
    absorbed = [i for i in dict.fromkeys(merged_hubspot_ids) if i != survivor_hubspot_id]
    if not absorbed:
        return 0
    with transaction.atomic():
        survivor = (
            Deal.objects.filter(hubspot_deal_id=survivor_hubspot_id)
            .exclude(hubspot_state=Deal.HubspotState.MERGED)  # a late event: it merged on since
            .values_list("id", flat=True)
            .first()
        )
        if survivor is None:
            return 0
        # Merged ones move on to a later survivor only (an older event moves nothing back).
        movable = Q(hubspot_state__in=[Deal.HubspotState.ACTIVE, Deal.HubspotState.ARCHIVED])
        movable |= _newer_than(at)
        ids = list(
            Deal.objects.filter(movable, hubspot_deal_id__in=absorbed)
            .exclude(id=survivor)
            .exclude(hubspot_state=Deal.HubspotState.MERGED, merged_into_id=survivor)
            .values_list("id", flat=True)
        )
        changed = Deal.objects.filter(id__in=ids).update(
            hubspot_state=Deal.HubspotState.MERGED,
            merged_into_id=survivor,
            hubspot_state_at=at,
            updated_at=now(),
        )
        DealWriteback.objects.filter(deal_id__in=ids, state=DealWriteback.State.QUEUED).delete()
    return changed
