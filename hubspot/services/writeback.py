"""Write-back: deals' outcomes sent to their HubSpot deals, 100 per batch update.

The pipeline queues each outcome (done or failed) in the same write as the status change
(deals/services/writeback.py), into an outbox `deals` owns. A pass, run by beat every
HUBSPOT_WRITEBACK_INTERVAL_SECONDS or by `manage.py hubspot_writeback`, claims up to 100
due outcomes at a time (deals.services: FOR UPDATE SKIP LOCKED, so two passes never take
the same ones), sends them in one batch update and settles each: complete; retried with
exponential backoff; in error once HUBSPOT_WRITEBACK_MAX_RETRIES retries are spent, at once
when HubSpot has no such deal or the account's validation rules refuse the update (with
HubSpot's category and message; staff "retry now" in the admin).

A batch that fails stops the pass (the client has already backed off and retried 429s and
5xx): the rest wait for the next pass instead of spending their retries on an outage.

Properties written (names from HUBSPOT_WRITEBACK_PROPERTIES): status ("done"/"failed"),
stage (where it ended: "done", or the stage that failed), finished_at (epoch ms, HubSpot's
form for datetime properties).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from deals.selectors import deal_writebacks_remaining
from deals.services import (
    OutcomeToSend,
    deal_writebacks_claim,
    deal_writebacks_mark_failed,
    deal_writebacks_mark_sent,
)

from ..client import BATCH_SIZE, HubspotClient
from ..types import HubspotError, to_epoch_ms

logger = logging.getLogger(__name__)

NOT_FOUND = "HubSpot has no deal with this id (deleted or merged?)"
# Waits between attempts to record a send HubSpot has taken, while the database is away
# (a restart, a failover): about 15 s in all, well inside the lease.
SETTLE_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class WritebackPassResult:
    sent: int
    failed: int
    remaining: int  # not sent yet: queued (due now or later) or being sent by another pass
    requests: int  # HTTP requests made, retries included
    enabled: bool = True


def outcome_properties(outcome: OutcomeToSend) -> dict[str, str]:
    """The HubSpot properties for one outcome, named as configured."""
    values = {
        "status": outcome.status,
        "stage": outcome.stage,
        "finished_at": str(to_epoch_ms(outcome.finished_at)),
    }
    names = settings.HUBSPOT_WRITEBACK_PROPERTIES
    return {names[field]: value for field, value in values.items() if field in names}


def writeback_pass(
    *, client: HubspotClient | None = None, max_batches: int = 100
) -> WritebackPassResult:
    """Send due outcomes until none are left (or `max_batches` batches were sent)."""
    if not settings.HUBSPOT_WRITEBACK_ENABLED:
        return WritebackPassResult(sent=0, failed=0, remaining=0, requests=0, enabled=False)
    client = client or HubspotClient(max_retries=3)
    if client.daily_limit_reached_until() is not None:
        # Claiming now would spend every outcome's retries on refusals until the reset.
        remaining = deal_writebacks_remaining()
        return WritebackPassResult(sent=0, failed=0, remaining=remaining, requests=0)
    sent = failed = requests = 0
    for _ in range(max_batches):
        claim = deal_writebacks_claim(
            limit=BATCH_SIZE,
            now=timezone.now(),
            lease_seconds=settings.HUBSPOT_WRITEBACK_LEASE_SECONDS,
        )
        if not claim.outcomes:
            break
        by_hubspot_id = {outcome.hubspot_deal_id: outcome for outcome in claim.outcomes}
        updates = [(hubspot_id, outcome_properties(o)) for hubspot_id, o in by_hubspot_id.items()]
        before = client.request_count
        try:
            result = client.update_deals(updates)
        except HubspotError as exc:
            requests += client.request_count - before
            deal_writebacks_mark_failed(
                token=claim.token,
                deal_ids=[o.deal_id for o in claim.outcomes],
                error=str(exc),
                now=timezone.now(),
                max_retries=settings.HUBSPOT_WRITEBACK_MAX_RETRIES,
                backoff_seconds=settings.HUBSPOT_WRITEBACK_BACKOFF_SECONDS,
            )
            failed += len(claim.outcomes)
            logger.warning(
                "hubspot_writeback_failed",
                extra={"outcomes": len(claim.outcomes), "error": str(exc)},
            )
            break
        requests += result.request_count
        now = timezone.now()
        sent += _settle(
            partial(
                deal_writebacks_mark_sent,
                token=claim.token,
                deal_ids=[by_hubspot_id[i].deal_id for i in result.updated_ids],
                now=now,
            )
        )
        # Refusals that waiting will not change are final at once: staff use "Retry now"
        # once the deal or the account's rule is fixed.
        final_errors: dict[str, list[str]] = {}
        for hubspot_id in result.missing_ids:
            final_errors.setdefault(NOT_FOUND, []).append(hubspot_id)
        for refusal in result.refused:
            error = f"HubSpot refused the update ({refusal.category}): {refusal.message}"
            final_errors.setdefault(error, []).append(refusal.hubspot_deal_id)
        for error, hubspot_ids in final_errors.items():
            failed += _settle(
                partial(
                    deal_writebacks_mark_failed,
                    token=claim.token,
                    deal_ids=[by_hubspot_id[i].deal_id for i in hubspot_ids],
                    error=error,
                    now=now,
                    max_retries=settings.HUBSPOT_WRITEBACK_MAX_RETRIES,
                    backoff_seconds=settings.HUBSPOT_WRITEBACK_BACKOFF_SECONDS,
                    final=True,
                )
            )
    remaining = deal_writebacks_remaining()
    if sent or failed:
        logger.info(
            "hubspot_writeback_pass",
            extra={"sent": sent, "failed": failed, "remaining": remaining, "requests": requests},
        )
    return WritebackPassResult(sent=sent, failed=failed, remaining=remaining, requests=requests)


def _settle(record: Callable[[], int]) -> int:
    """`record()`, what HubSpot has already taken, tried again on a fresh connection while
    the database is away (outside any transaction, as passes run). Left unrecorded, those
    outcomes would be sent a second time once the lease ran out (a chaos run found it:
    PostgreSQL restarting between a batch update and its record). When a first try did
    commit and only its answer was lost, the next finds nothing left of the claim: the
    count falls short, the outcomes are settled all the same."""
    for wait in SETTLE_WAITS:
        try:
            return record()
        except (OperationalError, InterfaceError) as exc:
            logger.warning(
                "hubspot_writeback_settle_retry", extra={"error": repr(exc), "wait": wait}
            )
            connection.close()  # broken; the next query opens a new one
            time.sleep(wait)
    return record()
