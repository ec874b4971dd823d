"""Bulk import by HubSpot deal id: staff name up to 1,000 deals; a job reads them from
HubSpot 100 per call, upserts them through the one door (hubspot/ingest.py) and records how
each ended: imported (new, handed to the pipeline), already_present, not_found or failed
(with its error). An id HubSpot merged away is answered with its survivor: the item names
it (`merged_into`) and ends as the survivor did, never as a second deal. One bad id or
one failed batch never sinks the rest.

The import and its items are created in one transaction, before anything is read: a bad
request creates nothing. The job takes 100 pending items at a time with SELECT ... FOR
UPDATE SKIP LOCKED and settles them in the same transaction as their upsert, so a killed
worker leaves them pending, and a second job on the same import (a redelivery, the resume
task) takes other items, never the same ones.
"""

import csv
import io
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.selectors import deal_ids_by_hubspot_id
from vcc.errors import InvalidInput

from ..client import HubspotClient
from ..ingest import hubspot_deals_upsert
from ..models import DealImport, DealImportItem
from ..types import MAX_DEAL_ID, HubspotError
from .payloads import deal_payloads_store

logger = logging.getLogger(__name__)

MAX_IDS = 1_000
BATCH_SIZE = 100  # HubSpot's batch read maximum
MAX_FILE_BYTES = 1024 * 1024
STALLED_AFTER = timedelta(minutes=2)  # an import with pending items silent this long lost its job
_SHOWN_BAD_IDS = 20

Item = DealImportItem.Status

_SETTLE_SQL = """
UPDATE hubspot_deal_import_items AS item
SET status = settled.status, error = settled.error, deal_id = settled.deal_id,
    merged_into = settled.merged_into, finished_at = %s
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::uuid[], %s::text[])
    AS settled(id, status, error, deal_id, merged_into)
WHERE item.id = settled.id
"""


def import_ids_validate(values: object, *, field: str = "hubspot_deal_ids") -> list[str]:
    """1 to 1,000 HubSpot deal ids (numeric strings, or integers), repeats collapsed, in
    the order given. InvalidInput naming `field` otherwise, listing the bad ids."""
    if not isinstance(values, list):
        raise InvalidInput("Expected a list of HubSpot deal ids.", field=field)
    if not values:
        raise InvalidInput("Give at least one HubSpot deal id.", field=field)
    if len(values) > MAX_IDS:
        raise InvalidInput(
            f"At most {MAX_IDS:,} ids per import ({len(values):,} given); split the list.",
            field=field,
        )
    ids: list[str] = []
    bad: list[str] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DEAL_ID:
            ids.append(str(value))
            continue
        text = value.strip() if isinstance(value, str) else None
        digits = text.lstrip("0") if text else ""
        if (
            text
            and text.isascii()
            and text.isdigit()
            and len(digits) <= 19
            and 0 < int(text) <= MAX_DEAL_ID
        ):
            ids.append(str(int(text)))  # "0042" is deal 42, as HubSpot reads it
        else:
            bad.append(repr(value) if not isinstance(value, str) else repr(value[:40]))
    if bad:
        shown = ", ".join(bad[:_SHOWN_BAD_IDS])
        more = f" and {len(bad) - _SHOWN_BAD_IDS} more" if len(bad) > _SHOWN_BAD_IDS else ""
        raise InvalidInput(
            f"HubSpot deal ids are numeric strings; not valid: {shown}{more}.", field=field
        )
    return list(dict.fromkeys(ids))


def import_ids_from_file(upload: UploadedFile) -> list[Any]:
    """The ids in an uploaded file: a JSON array (or {"hubspot_deal_ids": [...]}), or a CSV
    file with a `hubspot_deal_id` header (other columns ignored). Validate the result with
    `import_ids_validate(..., field="file")`."""
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        raise InvalidInput(f"The file is larger than {MAX_FILE_BYTES // 1024} KB.", field="file")
    try:
        text = upload.read(MAX_FILE_BYTES + 1).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text (CSV or JSON).", field="file") from None
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInput("The file is empty.", field="file")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except RecursionError:
            raise InvalidInput("The file's JSON is nested too deeply.", field="file") from None
        except ValueError as exc:
            raise InvalidInput(f"The file is not valid JSON: {exc}.", field="file") from None
        if isinstance(data, dict):
            data = data.get("hubspot_deal_ids")
        if not isinstance(data, list):
            raise InvalidInput(
                'A JSON file holds an array of ids, or {"hubspot_deal_ids": [...]}.',
                field="file",
            )
        return data
    return _ids_from_csv(stripped)


def _ids_from_csv(text: str) -> list[str]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [name.strip().lower() for name in next(reader)]
        if "hubspot_deal_id" not in header:
            raise InvalidInput(
                "The CSV file needs a header row with a hubspot_deal_id column.", field="file"
            )
        column = header.index("hubspot_deal_id")
        ids = []
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines
            if column >= len(row):
                raise InvalidInput(f"CSV line {line} has no hubspot_deal_id value.", field="file")
            ids.append(row[column])
    except csv.Error as exc:
        raise InvalidInput(f"The file is not valid CSV: {exc}.", field="file") from None
    return ids


def deal_import_create(
    *, hubspot_deal_ids: Sequence[str], created_by: User | AnonymousUser | None = None
) -> DealImport:
    """Record an import of these (validated) ids and queue its job after commit."""
    ids = import_ids_validate(list(hubspot_deal_ids))
    with transaction.atomic():
        deal_import = DealImport.objects.create(
            total=len(ids),
            created_by=created_by if isinstance(created_by, User) else None,  # not anonymous
        )
        DealImportItem.objects.bulk_create(
            DealImportItem(deal_import=deal_import, position=position, hubspot_deal_id=deal_id)
            for position, deal_id in enumerate(ids)
        )
        transaction.on_commit(lambda: _send_run_job(deal_import.id))
    logger.info("deal_import_created", extra={"import_id": deal_import.id, "total": len(ids)})
    return deal_import


def _send_run_job(import_id: uuid.UUID) -> None:
    from ..tasks import run_import  # tasks import services: cycle at call time

    try:
        run_import.delay(str(import_id))
    except Exception as exc:
        # The import is stored, its items pending: the resume task sends it again.
        logger.error(
            "deal_import_enqueue_failed", extra={"import_id": import_id, "error": repr(exc)}
        )


def deal_import_run(*, import_id: uuid.UUID, client: HubspotClient | None = None) -> bool:
    """Settle the import's pending items, 100 per HubSpot call; False if it was done."""
    now = timezone.now()
    claimed = DealImport.objects.filter(
        id=import_id, status__in=[DealImport.Status.QUEUED, DealImport.Status.RUNNING]
    ).update(
        status=DealImport.Status.RUNNING,
        started_at=Coalesce("started_at", now),
        heartbeat_at=now,
    )
    if not claimed:
        return False
    client = client or HubspotClient()
    while True:
        with transaction.atomic():
            items = list(
                DealImportItem.objects.select_for_update(skip_locked=True)
                .filter(deal_import_id=import_id, status=Item.PENDING)
                .order_by("position")[:BATCH_SIZE]
            )
            if not items:
                break
            _settle_batch(items, client)
            DealImport.objects.filter(id=import_id).update(heartbeat_at=timezone.now())
    # Done when nothing is pending; items another job holds are its to finish.
    finished = (
        DealImport.objects.filter(id=import_id, status=DealImport.Status.RUNNING)
        .exclude(items__status=Item.PENDING)
        .update(status=DealImport.Status.DONE, finished_at=timezone.now())
    )
    if finished:
        logger.info("deal_import_done", extra={"import_id": import_id})
    return True


def _settle_batch(items: list[DealImportItem], client: HubspotClient) -> None:
    now = timezone.now()
    ids = [item.hubspot_deal_id for item in items]
    try:
        result = client.read_deals(ids)
    except HubspotError as exc:
        # This batch failed (after the client's retries); the next batches still run.
        for item in items:
            item.status, item.error = Item.FAILED, str(exc)[:2000]
    else:
        upsert = hubspot_deals_upsert(deals=result.deals, now=now, source="hubspot_import")
        deal_payloads_store(records=[*result.deals, *result.invalid], source="import", now=now)
        created = {hubspot_id: deal_id for deal_id, hubspot_id in upsert.created}
        problems = {record.hubspot_deal_id: record.reason for record in result.invalid}
        problems.update({r.hubspot_deal_id: r.reason for r in upsert.rejected})
        missing = set(result.missing_ids)
        existing = deal_ids_by_hubspot_id(hubspot_deal_ids=[*ids, *result.merged.values()])
        for item in items:
            deal_id = item.hubspot_deal_id
            if deal_id in result.merged:
                # Merged away in HubSpot: the item is about its survivor, never a second deal.
                deal_id = item.merged_into = result.merged[deal_id]
            item.deal_id = existing.get(deal_id)
            if deal_id in problems:
                item.status, item.error = Item.FAILED, problems[deal_id]
            elif deal_id in missing:
                item.status, item.error = Item.NOT_FOUND, ""
            elif deal_id in created:
                item.status = Item.IMPORTED
                created.pop(deal_id)  # one item imports a survivor several ids merged into
            elif item.deal_id is not None:
                item.status = Item.ALREADY_PRESENT
            else:
                item.status, item.error = Item.FAILED, "HubSpot did not return this deal"
    # One statement for the batch (bulk_update's CASE per row and field cost seconds).
    with connection.cursor() as cursor:
        cursor.execute(
            _SETTLE_SQL,
            [
                now,
                [item.id for item in items],
                [item.status for item in items],
                [item.error for item in items],
                [item.deal_id for item in items],
                [item.merged_into for item in items],
            ],
        )


def deal_imports_resume_stalled(*, now: datetime | None = None) -> int:
    """Send the job again for imports whose job was lost (a worker killed, a broker
    restarted empty): pending items, and no batch settled for a while."""
    cutoff = (now or timezone.now()) - STALLED_AFTER
    stalled = list(
        DealImport.objects.filter(
            status__in=[DealImport.Status.QUEUED, DealImport.Status.RUNNING],
            items__status=Item.PENDING,
        )
        .alias(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
        .values_list("id", flat=True)
        .distinct()
    )
    for import_id in stalled:
        _send_run_job(import_id)
    if stalled:
        logger.warning("deal_imports_resumed", extra={"imports": len(stalled)})
    return len(stalled)
