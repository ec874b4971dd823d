"""Syncing deals from HubSpot into the pipeline: one sync at a time, page by page.

A sync searches HubSpot for deals modified in a window since the last poll, or checked in
within a window (the first sync, backfills, the daily re-read: `sync_plan`), upserts each
page in one statement, and enqueues `process_deal` for the deals it created, after each
page commits.

Pages already written are kept when HubSpot fails mid-sync (memory stays flat, progress is
real, and the work is not thrown away). The next sync still starts early enough: its window
begins no later than that of any sync that failed since the last one that succeeded, and
the upsert makes re-reading a page harmless (nothing created or enqueued twice).
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.selectors import deals_latest_checked_in_at
from vcc.errors import Conflict, Unavailable

from ..client import HubspotClient
from ..ingest import hubspot_deals_upsert
from ..models import ACTIVE, COUNT_FIELDS, REJECTIONS_KEPT, SyncRejection, SyncRun
from ..quota import DAILY_LIMIT
from ..types import HubspotError, SearchPage
from .payloads import deal_payloads_store

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncRun], None]


class SyncLockLost(Exception):
    """Another sync took over after this one went silent for longer than the lock's TTL."""


def sync_runs_expire_stale(*, now: datetime | None = None) -> int:
    """Free the lock held by a sync that stopped giving signs of life (its worker died)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HUBSPOT_SYNC_LOCK_TTL_SECONDS)
    return (
        SyncRun.objects.filter(active=ACTIVE)
        .alias(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
        .update(
            status=SyncRun.Status.FAILED,
            active=None,
            finished_at=now,
            error=f"no sign of life for {settings.HUBSPOT_SYNC_LOCK_TTL_SECONDS}s: "
            "its worker was lost; the next sync starts from this one's window",
        )
    )


def sync_run_request(*, trigger: str = SyncRun.Trigger.MANUAL) -> tuple[SyncRun, bool]:
    """Queue a sync for a worker, or return the one already queued or running.

    Returns (run, created). Never a second sync: the unique `active` column refuses it.
    Raises Unavailable when the run could not be handed to the broker (it is recorded as
    failed, its lock released).
    """
    sync_runs_expire_stale()
    for _ in range(3):  # the active run may finish between our insert and our read
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(trigger=trigger, active=ACTIVE)
                transaction.on_commit(partial(_send_queued_run, str(run.id)))
        except IntegrityError:
            active = SyncRun.objects.filter(active=ACTIVE).first()
            if active is not None:
                return active, False
        else:
            run.refresh_from_db()
            if run.status == SyncRun.Status.FAILED:
                raise Unavailable(run.error)
            return run, True
    raise RuntimeError("could not queue a sync: the sync lock kept changing hands")


def _send_queued_run(run_id: str) -> None:
    from ..tasks import run_sync  # tasks import services; keep the cycle at call time

    try:
        run_sync.delay(run_id)
    except Exception as exc:
        # No job will ever run this sync: release the lock now, not after its TTL.
        error = f"could not queue the sync: the task broker is unavailable ({type(exc).__name__})"
        SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.FAILED, active=None, finished_at=timezone.now(), error=error
        )
        logger.error("sync_enqueue_failed", extra={"sync_run_id": run_id, "error": repr(exc)})


def sync_run_start(
    *,
    trigger: str,
    window: tuple[datetime, datetime] | None = None,
    raise_if_skipped: bool = False,
) -> SyncRun:
    """Start a sync in this process. If another is in flight, record this one as skipped,
    and raise Conflict saying so when `raise_if_skipped` (a person is waiting for it)."""
    sync_runs_expire_stale()
    now = timezone.now()
    since, until = window or (None, None)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                trigger=trigger,
                status=SyncRun.Status.RUNNING,
                active=ACTIVE,
                window_start=since,
                window_end=until,
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError:
        holder = SyncRun.objects.filter(active=ACTIVE).first()
        reason = (
            f"skipped: another sync ({holder.trigger}, {holder.id}) is {holder.status}"
            if holder
            else "skipped: another sync was in flight"
        )
        logger.info("sync_skipped", extra={"trigger": trigger, "reason": reason})
        skipped = SyncRun.objects.create(
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            window_start=since,
            window_end=until,
            started_at=now,
            finished_at=now,
            progress_message=reason,
        )
        if raise_if_skipped:
            raise Conflict(reason) from None
        return skipped


def sync_run_claim(*, run_id: str) -> SyncRun | None:
    """Take a queued run for this worker; None if it is not queued any more."""
    now = timezone.now()
    # Who else races here: a duplicate delivery of the same job, and the stale-lock expiry.
    claimed = SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.warning("sync_not_claimed", extra={"sync_run_id": run_id, "reason": "not queued"})
        return None
    return SyncRun.objects.get(id=run_id)


# Syncs that move the poll's cursor on: not the explicit windows, not the daily re-read.
_POLLS = (SyncRun.Trigger.SCHEDULED, SyncRun.Trigger.MANUAL, SyncRun.Trigger.COMMAND)


def sync_plan(*, now: datetime, trigger: str) -> tuple[str, datetime, datetime]:
    """(kind, since, until) of a sync HubSpot is not told the window of.

    A poll reads what HubSpot modified since the last successful poll began, less
    HUBSPOT_POLL_OVERLAP_MINUTES: HubSpot bumps `hs_lastmodifieddate` on any change, so a
    new deal, a backdated check-in and a changed one are all found, and a poll when nothing
    changed costs one search whatever the number of deals. The overlap covers search's
    index lag and clock skew; upserts make re-reading harmless. Before any poll succeeded,
    the first sync reads the bootstrap window by check-in (`sync_window`); the daily re-read
    reads the lookback window by check-in, a safety net for a lag longer than the overlap.
    """
    if trigger == SyncRun.Trigger.REREAD:
        return SyncRun.Kind.CHECKED_IN, *sync_window(now=now)
    polls = SyncRun.objects.filter(trigger__in=_POLLS).exclude(kind=SyncRun.Kind.RECONCILE)
    last = (
        polls.filter(status=SyncRun.Status.SUCCEEDED, window_end__isnull=False)
        .order_by("-started_at")
        .first()
    )
    if last is None or last.window_end is None:
        return SyncRun.Kind.CHECKED_IN, *sync_window(now=now)
    since = min(last.window_end, now) - timedelta(minutes=settings.HUBSPOT_POLL_OVERLAP_MINUTES)
    # A poll that failed since may have stopped before reaching some deals (pages come in
    # id order, not time order): start no later than it did.
    earliest_failed = polls.filter(
        status=SyncRun.Status.FAILED, started_at__gt=last.started_at, window_start__isnull=False
    ).aggregate(at=Min("window_start"))["at"]
    if earliest_failed is not None:
        since = min(since, earliest_failed)
    return SyncRun.Kind.CHANGES, since, now


def sync_window(*, now: datetime) -> tuple[datetime, datetime]:
    """[latest checked-in time - lookback, now], or [now - bootstrap days, now] at first.

    Starts earlier when a sync failed since the last success: it may have stopped after
    writing later deals (pages come in HubSpot id order, not time order).
    """
    latest = deals_latest_checked_in_at()
    if latest is None:
        since = now - timedelta(days=settings.HUBSPOT_BOOTSTRAP_DAYS)
    else:
        since = min(latest, now) - timedelta(days=settings.HUBSPOT_LOOKBACK_DAYS)
    incremental = SyncRun.objects.filter(trigger__in=_POLLS).exclude(kind=SyncRun.Kind.RECONCILE)
    last_success = incremental.filter(status=SyncRun.Status.SUCCEEDED).aggregate(
        at=Max("started_at")
    )["at"]
    failed = incremental.filter(status=SyncRun.Status.FAILED, window_start__isnull=False)
    if last_success is not None:
        failed = failed.filter(started_at__gt=last_success)
    earliest_failed = failed.aggregate(at=Min("window_start"))["at"]
    if earliest_failed is not None:
        since = min(since, earliest_failed)
    return since, now


def sync_run_execute(
    *,
    run: SyncRun,
    client: HubspotClient | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Run a started sync to the end; the run records the outcome (it is also returned)."""
    now = timezone.now()
    if run.window_start is None:
        run.kind, run.window_start, run.window_end = sync_plan(now=now, trigger=run.trigger)
        SyncRun.objects.filter(id=run.id).update(
            kind=run.kind, window_start=run.window_start, window_end=run.window_end
        )
    fields = {"sync_run_id": run.id, "trigger": run.trigger, "kind": run.kind}
    logger.info(
        "sync_started", extra={**fields, "since": run.window_start, "until": run.window_end}
    )
    before = (client.request_count, client.rate_limited_count) if client else (0, 0)
    try:
        client = client or HubspotClient()
        assert run.window_end is not None  # set with window_start
        search = (
            client.search_modified if run.kind == SyncRun.Kind.CHANGES else client.search_checked_in
        )
        for page in search(since=run.window_start, until=run.window_end):
            _write_page(run, page)
            if on_progress:
                on_progress(run)
    except HubspotError as exc:
        # Refusals a person must act on read as one line naming the cause.
        error = exc.message if exc.status in (401, 403) or exc.category == DAILY_LIMIT else str(exc)
        sync_run_finish(
            run=run, status=SyncRun.Status.FAILED, error=error, client=client, before=before
        )
        logger.error("sync_failed", extra={**fields, "error": error})
    except (SyncLockLost, SoftTimeLimitExceeded) as exc:
        error = str(exc) or "the sync passed its time limit"
        sync_run_finish(
            run=run, status=SyncRun.Status.FAILED, error=error, client=client, before=before
        )
        logger.error("sync_failed", extra={**fields, "error": error})
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        sync_run_finish(
            run=run, status=SyncRun.Status.FAILED, error=error, client=client, before=before
        )
        logger.exception("sync_failed", extra=fields)
    else:
        sync_run_finish(run=run, status=SyncRun.Status.SUCCEEDED, client=client, before=before)
        logger.info("sync_finished", extra={**fields, "summary": run.summary, "pages": run.pages})
    return run


def _write_page(run: SyncRun, page: SearchPage) -> None:
    now = timezone.now()
    with transaction.atomic():
        # Heartbeat first, and write only while we still hold the lock.
        if not SyncRun.objects.filter(id=run.id, active=ACTIVE).update(heartbeat_at=now):
            raise SyncLockLost("another sync took over: this one was silent past the lock TTL")
        result = hubspot_deals_upsert(deals=page.deals, now=now, source="hubspot_sync")
        deal_payloads_store(records=[*page.deals, *page.invalid], source="sync", now=now)
        rejected = [(r.hubspot_deal_id, r.reason) for r in page.invalid]
        rejected += [(r.hubspot_deal_id, r.reason) for r in result.rejected]
        _keep_rejections(run, rejected)
        run.pages += 1
        run.fetched += len(page.deals) + len(page.invalid)
        run.new += len(result.created)
        run.updated += result.updated
        run.restarted += len(result.restarted)
        run.unchanged += result.unchanged
        run.invalid += len(rejected)
        run.requests += page.request_count
        run.rate_limited += page.rate_limited_count
        run.progress_current = run.fetched
        if page.query_number == 1:
            run.progress_total = max(page.total, run.fetched)
        run.progress_message = f"page {run.pages}: {run.fetched} deals fetched, {run.new} new"
        SyncRun.objects.filter(id=run.id).update(**{f: getattr(run, f) for f in _PROGRESS_FIELDS})


def _keep_rejections(run: SyncRun, rejected: list[tuple[str, str]]) -> None:
    """Keep the records this page rejected, up to REJECTIONS_KEPT a run (`invalid`, which
    counts them all, has not counted these yet)."""
    room = max(0, REJECTIONS_KEPT - run.invalid)
    SyncRejection.objects.bulk_create(
        SyncRejection(sync_run_id=run.id, hubspot_deal_id=hubspot_deal_id, reason=reason)
        for hubspot_deal_id, reason in rejected[:room]
    )


_PROGRESS_FIELDS = (*COUNT_FIELDS, "progress_current", "progress_total", "progress_message")


def sync_run_finish(
    *,
    run: SyncRun,
    status: str,
    client: HubspotClient | None,
    before: tuple[int, int],
    error: str = "",
    counters: tuple[str, ...] = (),
) -> None:
    """Ends a run, the sync's or the reconcile's: its status, its requests and, for the
    kinds that count as they go, `counters` as the run holds them."""
    run.status, run.error, run.finished_at = status, error, timezone.now()
    if client is not None:
        # Every request the run sent: pages only count what they wrote, and a failing
        # page's requests (its retries, the 429s waited out) matter most.
        run.requests = client.request_count - before[0]
        run.rate_limited = client.rate_limited_count - before[1]
    if status == SyncRun.Status.SUCCEEDED:
        run.progress_message = f"done: {run.summary}"
    fields = {
        "status": status,
        "error": error,
        "finished_at": run.finished_at,
        "active": None,
        "progress_message": run.progress_message,
        "requests": run.requests,
        "rate_limited": run.rate_limited,
    }
    SyncRun.objects.filter(id=run.id).update(
        **fields, **{name: getattr(run, name) for name in counters if name not in fields}
    )


def sync_runs_delete_old(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.HUBSPOT_SYNC_RUN_RETENTION_DAYS)
    deleted, _ = SyncRun.objects.filter(created_at__lt=cutoff, active__isnull=True).delete()
    return deleted
