"""Reconciling our deals with HubSpot when no webhook told us: deletions, restores, merges.

A pass batch-reads every deal of ours HubSpot may still change the existence of (active and
archived ones), 100 ids a request, in HubSpot id order, and applies what the answers say
with the rules the webhooks use (deals/services/lifecycle.py):

- an active deal not found: deleted in HubSpot, archived here (an id HubSpot failed to
  read for another reason is left alone: `failed_ids`);
- an archived deal found again: restored (within HubSpot's 90 days), active here;
- an id answered with another deal's record: merged away; the survivor is upserted like
  any deal read (created if new, its first pass "HubSpot merge"), which marks the deals it
  absorbed (its hs_merged_object_ids) merged into it.

Every deal found is upserted too, so the pass also catches changes a missed poll would
have. The changes apply as of the moment the batch was read: an event HubSpot sends
about a later moment still wins. Merged deals are final and are not read again.

Cost: one request per 100 deals checked (plus retries), through the shared rate limiter
and daily stop, so a pass at 10,000 deals is 100 requests. Runs are recorded in
`sync_runs` (kind `reconcile`), one at a time (their own `active` value, beside syncs).
"""

import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.selectors import deals_hubspot_states
from deals.services import deals_archive, deals_restore

from ..client import BATCH_SIZE, HubspotClient
from ..ingest import hubspot_deals_upsert
from ..models import SyncRun
from ..types import HubspotError
from .sync import sync_run_finish

logger = logging.getLogger(__name__)

RECONCILE_ACTIVE = "reconcile"  # SyncRun.active of the reconcile in flight
_COUNTERS = ("fetched", "archived", "restored", "merged", "new", "updated", "requests")


def reconcile_run_start(*, trigger: str) -> SyncRun:
    """Start a reconcile in this process, or record a skip when one is in flight."""
    now = timezone.now()
    _expire_stale(now=now)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                trigger=trigger,
                kind=SyncRun.Kind.RECONCILE,
                status=SyncRun.Status.RUNNING,
                active=RECONCILE_ACTIVE,
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError:
        return SyncRun.objects.create(
            trigger=trigger,
            kind=SyncRun.Kind.RECONCILE,
            status=SyncRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            progress_message="skipped: another reconcile is running",
        )


def _expire_stale(*, now) -> None:
    # A reconcile silent this long lost its worker (killed): free its lock.
    cutoff = now - timedelta(seconds=settings.HUBSPOT_SYNC_LOCK_TTL_SECONDS)
    SyncRun.objects.filter(active=RECONCILE_ACTIVE).alias(
        last_seen=Coalesce("heartbeat_at", "created_at")
    ).filter(last_seen__lt=cutoff).update(
        status=SyncRun.Status.FAILED,
        active=None,
        finished_at=now,
        error="no sign of life: its worker was lost",
    )


def reconcile_run_execute(*, run: SyncRun, client: HubspotClient | None = None) -> SyncRun:
    """Run a started reconcile to the end; the run records the outcome (and is returned)."""
    client = client or HubspotClient()
    before = (client.request_count, client.rate_limited_count)
    after = ""
    try:
        while page := deals_hubspot_states(after=after, limit=BATCH_SIZE):
            after = page[-1][0]
            _reconcile_batch(run, dict(page), client)
            run.requests = client.request_count - before[0]
            run.progress_current = run.fetched
            run.progress_message = f"{run.fetched} deals checked"
            SyncRun.objects.filter(id=run.id).update(
                heartbeat_at=timezone.now(),
                progress_current=run.progress_current,
                progress_message=run.progress_message,
                **{name: getattr(run, name) for name in _COUNTERS},
            )
    except (HubspotError, SoftTimeLimitExceeded) as exc:
        error = str(exc) or "the job's time limit was reached"
    else:
        error = ""
    status = SyncRun.Status.FAILED if error else SyncRun.Status.SUCCEEDED
    sync_run_finish(
        run=run, status=status, client=client, before=before, error=error, counters=_COUNTERS
    )
    if error:
        logger.warning("hubspot_reconcile_failed", extra={"error": error})
    else:
        logger.info("hubspot_reconcile_done", extra={"summary": run.summary})
    return run


def _reconcile_batch(run: SyncRun, states: dict[str, str], client: HubspotClient) -> None:
    read_at = timezone.now()  # what HubSpot answers is true as of (about) now
    result = client.read_deals(list(states))
    found = {d.hubspot_deal_id for d in result.deals} | {r.hubspot_deal_id for r in result.invalid}
    archived_here = [i for i, state in states.items() if state == "archived" and i in found]
    deleted_there = [i for i in result.missing_ids if states.get(i) == "active"]
    with transaction.atomic():
        # Restores first: a restored deal that changed is then sent round by the upsert.
        run.restored += deals_restore(hubspot_deal_ids=archived_here, at=read_at)
        run.archived += deals_archive(hubspot_deal_ids=deleted_there, at=read_at)
        upsert = hubspot_deals_upsert(deals=result.deals, now=read_at, source="hubspot_reconcile")
    run.fetched += len(states)
    run.merged += upsert.merged
    run.new += len(upsert.created)
    run.updated += upsert.updated
