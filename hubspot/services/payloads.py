"""The HubSpot JSON last fetched for each deal, kept for debugging (admin: Deal payloads).

Every way in stores what it read (sync pages, import batches, webhook reads) in the same
transaction as the upsert, one statement per batch. A payload larger than the cap is kept
as the start of its JSON text, flagged `truncated`. Payloads not fetched again within
RAW_PAYLOAD_TTL_DAYS are deleted by a daily task.
"""

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..models import DealPayload
from ..types import HubspotDeal, InvalidRecord

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 512 * 1024
_DELETE_BATCH = 10_000

_UPSERT_SQL = """
INSERT INTO hubspot_deal_payloads
    (hubspot_deal_id, payload, truncated, size_bytes, source, fetched_at)
SELECT * FROM unnest(%s::text[], %s::jsonb[], %s::boolean[], %s::integer[], %s::text[],
    %s::timestamptz[])
ON CONFLICT (hubspot_deal_id) DO UPDATE SET
    payload = EXCLUDED.payload, truncated = EXCLUDED.truncated,
    size_bytes = EXCLUDED.size_bytes, source = EXCLUDED.source,
    fetched_at = EXCLUDED.fetched_at
"""


def payload_json(raw: object, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> tuple[str, bool, int]:
    """(JSON text to store, truncated?, size in bytes of the whole payload)."""
    text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    if "\\u0000" in text:
        # PostgreSQL's jsonb cannot hold NUL characters (one would fail the whole batch).
        text = json.dumps(_without_nul(raw), separators=(",", ":"), ensure_ascii=False)
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text, False, len(encoded)
    # Kept as a JSON string holding the start of the text, cut on a character boundary.
    start = encoded[:max_bytes].decode(errors="ignore")
    return json.dumps(start, ensure_ascii=False), True, len(encoded)


def _without_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def deal_payloads_store(
    *,
    records: Sequence[HubspotDeal | InvalidRecord],
    source: str,
    now: datetime,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> int:
    """Keep each record's JSON as the latest fetched for its deal; returns how many."""
    latest: dict[str, tuple[str, bool, int]] = {}
    for record in records:
        if record.hubspot_deal_id and record.raw:
            latest[record.hubspot_deal_id] = payload_json(record.raw, max_bytes=max_bytes)
    if not latest:
        return 0
    ids = list(latest)
    columns: list[Any] = [
        ids,
        [latest[i][0] for i in ids],
        [latest[i][1] for i in ids],
        [latest[i][2] for i in ids],
        [source] * len(ids),
        [now] * len(ids),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, columns)
    return len(ids)


def deal_payloads_delete_old(*, now: datetime | None = None) -> int:
    """Delete payloads not fetched within RAW_PAYLOAD_TTL_DAYS, in batches (short
    transactions, however many); logs and returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RAW_PAYLOAD_TTL_DAYS)
    deleted = 0
    while True:
        batch = list(
            DealPayload.objects.filter(fetched_at__lt=cutoff).values_list(
                "hubspot_deal_id", flat=True
            )[:_DELETE_BATCH]
        )
        if not batch:
            break
        count, _ = DealPayload.objects.filter(
            hubspot_deal_id__in=batch, fetched_at__lt=cutoff
        ).delete()
        deleted += count
    logger.info(
        "hubspot_payloads_deleted",
        extra={"deleted": deleted, "ttl_days": settings.RAW_PAYLOAD_TTL_DAYS},
    )
    return deleted
