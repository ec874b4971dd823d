"""HubSpot webhooks: deal events recorded as they arrive, then their deals read and upserted.

The endpoint only records (one INSERT, no call to HubSpot) and answers; a job on the control
queue then batch-reads the affected deals, upserts them through the one door every way in
uses (hubspot/ingest.py), keeps their JSON, and marks the events done. New deals enter the
pipeline when that commits. A beat task runs the same job every minute, so events whose job
was lost (broker restarted empty, HubSpot down) are processed later, never dropped.

Events recorded: deal.creation and deal.propertyChange of the checked-in property
(HUBSPOT_CHECKED_IN_PROPERTY), which bring a deal in; deal.deletion, which archives ours
(deals.services.deals_archive); deal.restore, which makes it active again and reads it;
deal.merge, recorded under its surviving deal (the new one), which is read and upserted:
the upsert marks the deals it absorbed (its hs_merged_object_ids, and the event's own ids)
merged into it. Reading a merged-away id answers its survivor, which is upserted instead
(outcome `merged`). Others are accepted and ignored.
"""

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from deals.selectors import deal_ids_by_hubspot_id
from deals.services import deals_archive, deals_merge, deals_restore

from ..client import HubspotClient
from ..ingest import hubspot_deals_upsert
from ..models import WebhookEvent
from ..types import BatchReadResult, HubspotError
from .payloads import deal_payloads_store

logger = logging.getLogger(__name__)

BATCH_SIZE = 100  # events per pass step: at most 100 deals, one batch read
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_INSERT_SQL = """
INSERT INTO hubspot_webhook_events (dedupe_key, event_id, subscription_type, hubspot_deal_id,
    property_name, property_value, occurred_at, received_at, status, outcome, attempts, error)
SELECT k, e, t, d, pn, pv, o, %s, 'pending', '', 0, ''
FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::timestamptz[]) AS u(k, e, t, d, pn, pv, o)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""


DELETION, RESTORE, MERGE = "deal.deletion", "deal.restore", "deal.merge"
MERGED_IDS = "mergedObjectIds"  # property_name of a merge event: its ids in property_value
MERGE_READ_ATTEMPTS = 5  # passes (a minute apart) a merge waits for its survivor's record


def brings_a_deal_in(event: Mapping[str, Any]) -> bool:
    """Whether the event is one we record (the name is from when all of them did)."""
    kind = event.get("subscriptionType")
    if kind in ("deal.creation", DELETION, RESTORE, MERGE):
        return True
    return (
        kind == "deal.propertyChange"
        and event.get("propertyName") == settings.HUBSPOT_CHECKED_IN_PROPERTY
    )


def _dedupe_key(event: Mapping[str, Any]) -> str:
    # Everything HubSpot sends but the delivery attempt: a redelivery is the same event.
    identity = {k: v for k, v in event.items() if k != "attemptNumber"}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def webhook_events_record(
    *, events: Sequence[Mapping[str, Any]], received_at: datetime | None = None
) -> int:
    """Record the events that bring a deal in, each once; returns how many were new.

    The processing job is sent once the transaction commits (only when something new came).
    `events` are validated HubSpot events (hubspot/apis/webhooks.py).
    """
    received_at = received_at or timezone.now()
    wanted = {_dedupe_key(event): event for event in events if brings_a_deal_in(event)}
    if not wanted:
        return 0
    keys = list(wanted)
    rows = [wanted[key] for key in keys]
    columns: list[Any] = [
        received_at,
        keys,
        [int(event["eventId"]) for event in rows],
        [str(event["subscriptionType"]) for event in rows],
        [_deal_of(event) for event in rows],
        [_property_of(event) for event in rows],
        [_value_of(event) for event in rows],
        [_EPOCH + timedelta(milliseconds=int(event["occurredAt"])) for event in rows],
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, columns)
        new = len(cursor.fetchall())
        if new:
            transaction.on_commit(_send_process_job)
    logger.info("hubspot_webhook_events", extra={"received": len(events), "new": new})
    return new


def _is_merge(event: Mapping[str, Any]) -> bool:
    return event.get("subscriptionType") == MERGE


def _deal_of(event: Mapping[str, Any]) -> str:
    """The deal an event is about: for a merge, the survivor (the new deal, else the primary)."""
    if _is_merge(event):
        return str(event.get("newObjectId") or event.get("primaryObjectId") or event["objectId"])
    return str(event["objectId"])


def _property_of(event: Mapping[str, Any]) -> str:
    return MERGED_IDS if _is_merge(event) else str(event.get("propertyName") or "")


def _value_of(event: Mapping[str, Any]) -> str:
    if _is_merge(event):
        absorbed = [event.get("primaryObjectId"), *(event.get("mergedObjectIds") or [])]
        return ";".join(str(i) for i in absorbed if i)
    return str(event.get("propertyValue") or "")[:1000]


def _send_process_job() -> None:
    from ..tasks import process_webhook_events  # tasks import services: cycle at call time

    try:
        process_webhook_events.delay()
    except Exception as exc:
        # The events are stored: the beat-scheduled run picks them up within a minute.
        logger.error("webhook_process_enqueue_failed", extra={"error": repr(exc)})


@dataclass(frozen=True)
class WebhookProcessResult:
    events: int  # events settled
    imported: int  # new deals handed to the pipeline
    error: str = ""  # why the pass stopped early (HubSpot failed); events stay pending


def webhook_events_process(
    *, client: HubspotClient | None = None, max_batches: int = 100
) -> WebhookProcessResult:
    """Read the deals of pending events from HubSpot, upsert them, settle the events.

    Who else runs this: every webhook request's job, the beat tick, and redelivered jobs;
    each batch of events is taken with SELECT ... FOR UPDATE SKIP LOCKED, so none is
    processed twice and none waits behind another. The locks are held across the batch
    read (one HubSpot call, few retries), so a killed worker leaves its events pending.
    """
    # Few retries: the events stay locked meanwhile; the next run tries again anyway.
    client = client or HubspotClient(max_retries=2)
    settled = imported = 0
    held: set[int] = set()  # merges left for a later pass (their survivor not read yet)
    for _ in range(max_batches):
        with transaction.atomic():
            events = list(
                WebhookEvent.objects.select_for_update(skip_locked=True)
                .filter(status=WebhookEvent.Status.PENDING)
                .exclude(id__in=held)
                .order_by("id")[:BATCH_SIZE]
            )
            if not events:
                break
            try:
                created = _settle(events, client, held=held)
            except HubspotError as exc:
                # Transient (HubSpot down, rate limited): the whole batch waits for a later
                # pass, uncapped, as every other event would meet the same failure now.
                WebhookEvent.objects.filter(id__in=[e.id for e in events]).update(
                    attempts=F("attempts") + 1, error=str(exc)[:2000]
                )
                error = str(exc)
                logger.warning("webhook_events_read_failed", extra={"error": error})
                return WebhookProcessResult(events=settled, imported=imported, error=error)
        settled += len(events)
        imported += created
    return WebhookProcessResult(events=settled, imported=imported)


def _settle(events: list[WebhookEvent], client: HubspotClient, *, held: set[int]) -> int:
    """One batch; when HubSpot refuses it for a reason of the input (not transient), each
    event alone, so the one at fault is found and the others go on. Transient errors raise."""
    try:
        with transaction.atomic():
            return _read_and_upsert(events, client, held=held)
    except HubspotError as exc:
        if exc.transient:
            raise
        if len(events) > 1:
            return sum(_settle([event], client, held=held) for event in events)
        _count_refusal(events[0], exc, held=held)
        return 0


def _count_refusal(event: WebhookEvent, exc: HubspotError, *, held: set[int]) -> None:
    """HubSpot refused this event's read for a reason that will not pass: counted, left for
    a later pass, and marked failed with the reason after HUBSPOT_WEBHOOK_MAX_ATTEMPTS."""
    attempts = event.attempts + 1
    failed = attempts >= settings.HUBSPOT_WEBHOOK_MAX_ATTEMPTS
    WebhookEvent.objects.filter(id=event.id).update(
        attempts=attempts,
        error=str(exc)[:2000],
        **(
            {"status": WebhookEvent.Status.FAILED, "processed_at": timezone.now()} if failed else {}
        ),
    )
    held.add(event.id)  # not again in this pass
    logger.warning(
        "webhook_event_failed" if failed else "webhook_event_refused",
        extra={"event": event.id, "attempts": attempts, "error": str(exc)[:200]},
    )


def _read_and_upsert(events: list[WebhookEvent], client: HubspotClient, *, held: set[int]) -> int:
    """Read, upsert and settle one batch of locked events; returns the deals created."""
    now = timezone.now()
    Outcome = WebhookEvent.Outcome
    outcomes: dict[str, tuple[str, str]] = {}
    # Deletions and restores in the order they happened; each applies only when newer than
    # the deal's last one, so a late or repeated event changes nothing.
    for event in sorted(events, key=lambda e: e.occurred_at):
        if event.subscription_type == DELETION:
            deals_archive(hubspot_deal_ids=[event.hubspot_deal_id], at=event.occurred_at)
        elif event.subscription_type == RESTORE:
            deals_restore(hubspot_deal_ids=[event.hubspot_deal_id], at=event.occurred_at)
    deleted = {e.hubspot_deal_id for e in events if e.subscription_type == DELETION}
    for hubspot_id in deleted:
        outcomes[hubspot_id] = (Outcome.ARCHIVED, "")
    deal_ids = list(
        dict.fromkeys(e.hubspot_deal_id for e in events if e.hubspot_deal_id not in deleted)
    )
    result = client.read_deals(deal_ids) if deal_ids else BatchReadResult([], [], [], 0, 0)
    upsert = hubspot_deals_upsert(deals=result.deals, now=now, source="hubspot_webhook")
    deal_payloads_store(records=[*result.deals, *result.invalid], source="webhook", now=now)
    for event in events:
        if event.subscription_type == MERGE:
            # The event's own ids too: HubSpot's record may not list them all yet.
            deals_merge(
                survivor_hubspot_id=event.hubspot_deal_id,
                merged_hubspot_ids=event.property_value.split(";"),
                at=event.occurred_at,
            )

    created = {hubspot_id for _, hubspot_id in upsert.created}
    for deal in result.deals:
        outcome: str = (
            Outcome.IMPORTED if deal.hubspot_deal_id in created else Outcome.ALREADY_PRESENT
        )
        outcomes[deal.hubspot_deal_id] = (outcome, "")
    for record in result.invalid:
        outcomes[record.hubspot_deal_id] = (Outcome.INVALID, record.reason)
    for rejected in upsert.rejected:
        outcomes[rejected.hubspot_deal_id] = (Outcome.INVALID, rejected.reason)
    for missing in result.missing_ids:
        outcomes[missing] = (Outcome.NOT_FOUND, "HubSpot has no deal with this id")
    for merged_id, survivor in result.merged.items():
        outcomes[merged_id] = (Outcome.MERGED, f"merged into {survivor} in HubSpot")

    # A merge whose survivor HubSpot could not give us yet: read again on a later pass.
    ours = deal_ids_by_hubspot_id(hubspot_deal_ids=[e.hubspot_deal_id for e in events])
    retry = [
        e.id
        for e in events
        if e.subscription_type == MERGE
        and e.hubspot_deal_id not in ours
        and e.attempts < MERGE_READ_ATTEMPTS
    ]
    WebhookEvent.objects.filter(id__in=retry).update(attempts=F("attempts") + 1)
    held.update(retry)
    by_outcome: dict[tuple[str, str], list[int]] = {}
    for event in (e for e in events if e.id not in retry):
        key = outcomes.get(event.hubspot_deal_id, (Outcome.NOT_FOUND, "not returned"))
        by_outcome.setdefault(key, []).append(event.id)
    for (outcome, error), ids in by_outcome.items():
        WebhookEvent.objects.filter(id__in=ids).update(
            status=WebhookEvent.Status.DONE, outcome=outcome, error=error, processed_at=now
        )
    return len(upsert.created)


def webhook_events_delete_old(*, now: datetime | None = None) -> int:
    """Delete processed events older than HUBSPOT_WEBHOOK_EVENT_RETENTION_DAYS (HubSpot
    redelivers for a day at most, so older rows no longer guard against duplicates)."""
    days = settings.HUBSPOT_WEBHOOK_EVENT_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = WebhookEvent.objects.filter(
        status__in=[WebhookEvent.Status.DONE, WebhookEvent.Status.FAILED], received_at__lt=cutoff
    ).delete()
    return deleted
