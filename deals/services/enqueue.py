"""Handing deals to the pipeline's workers: always after the transaction commits, so no
job ever reads an uncommitted row, and never fatally: a send that fails (broker down) is
logged and left to the sweeper, which sends it again.

Two lanes: the backlog (new deals, HubSpot changes, the sweeper) and the operator lane
(re-runs and retries people ask for), which every worker serves first (vcc/celery.py).
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from vcc.queues import BACKLOG_QUEUE

from ..broker import SENT_AT_HEADER
from ..models import Deal

logger = logging.getLogger(__name__)


def deal_send_now(
    *,
    deal_id: uuid.UUID | str,
    hubspot_deal_id: str,
    reason: str,
    lane: str = BACKLOG_QUEUE,
    sent_at: datetime | None = None,
) -> bool:
    """Hand `process_deal` to the broker now, in `lane`; False (and logged) when the broker
    refused.

    The job carries its send time (`sent_at`, default now), which the sweeper compares with
    the deal's `enqueued_at` to tell a lost job from one still waiting (deals/broker.py).
    """
    from deals.tasks import process_deal  # tasks import services; keep the cycle at call time

    fields = {"deal_id": deal_id, "hubspot_deal_id": hubspot_deal_id, "reason": reason}
    try:
        process_deal.apply_async(
            args=(str(deal_id),),
            queue=lane,
            headers={SENT_AT_HEADER: (sent_at or timezone.now()).isoformat()},
        )
    except Exception as exc:
        logger.error("deal_enqueue_failed", extra={**fields, "error": repr(exc)})
        return False
    logger.info("deal_enqueued", extra={**fields, "lane": lane})
    return True


def deals_send_now(*, deals: Sequence[tuple[str, str]], reason: str) -> int:
    """Send `process_deal` for a batch now (the fan-out job); returns how many were sent.

    The batch may have waited in the control queue: its deals' `enqueued_at` moves to now
    first, so the sweeper measures from the real send, not from when they were written.
    """
    Deal.objects.filter(id__in=[deal_id for deal_id, _ in deals], status="pending").update(
        enqueued_at=timezone.now()
    )
    return sum(
        deal_send_now(deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason=reason)
        for deal_id, hubspot_deal_id in deals
    )


def deal_enqueue(
    *, deal_id: uuid.UUID, hubspot_deal_id: str, reason: str, lane: str = BACKLOG_QUEUE
) -> None:
    """Send `process_deal` once the current transaction commits."""
    transaction.on_commit(
        lambda: deal_send_now(
            deal_id=deal_id, hubspot_deal_id=hubspot_deal_id, reason=reason, lane=lane
        )
    )


def deals_enqueue(*, deals: Sequence[tuple[uuid.UUID, str]], reason: str) -> None:
    """Send `process_deal` for many deals to the backlog once the transaction commits,
    through one fan-out job: a sync page of 200 new deals costs the sync one broker round
    trip, not 200."""
    from deals.tasks import enqueue_deals

    payload = [[str(deal_id), hubspot_deal_id] for deal_id, hubspot_deal_id in deals]
    if not payload:
        return

    def send() -> None:
        try:
            enqueue_deals.delay(payload, reason)
        except Exception as exc:
            logger.error(
                "deal_enqueue_failed",
                extra={"deals": len(payload), "reason": reason, "error": repr(exc)},
            )

    transaction.on_commit(send)
