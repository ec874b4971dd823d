"""HubSpot's deal objects (SimplePublicObject JSON) into `HubspotDeal` / `InvalidRecord`.

Every field of HubSpot's JSON is treated as optional. A record we cannot use (no id, no or
an unparsable checked-in value) comes back as an `InvalidRecord`, logged at warning, and
never stops the rest of its page or batch.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from .types import (
    HubspotDeal,
    InvalidRecord,
    RefusedUpdate,
    merged_object_ids,
    parse_amount,
    parse_hubspot_datetime,
)

logger = logging.getLogger(__name__)

ERROR_MESSAGE_CHARS = 300


def parse_deal(obj: Any, *, checked_in_property: str) -> HubspotDeal | InvalidRecord:
    if not isinstance(obj, dict):
        return _invalid("", "the record is not a JSON object", {}, {})
    raw_properties = obj.get("properties")
    properties: dict[str, str | None] = (
        {str(k): None if v is None else str(v) for k, v in raw_properties.items()}
        if isinstance(raw_properties, dict)
        else {}
    )
    deal_id = str(object_id(obj) or "")
    if not deal_id:
        return _invalid("", "the record has no id", properties, obj)
    raw_checked_in = properties.get(checked_in_property)
    if raw_checked_in is None or not raw_checked_in.strip():
        return _invalid(deal_id, f"{checked_in_property} is missing", properties, obj)
    checked_in_at = parse_hubspot_datetime(raw_checked_in)
    if checked_in_at is None:
        reason = f"{checked_in_property} is not a datetime: {raw_checked_in[:60]!r}"
        return _invalid(deal_id, reason, properties, obj)
    return HubspotDeal(
        hubspot_deal_id=deal_id,
        name=properties.get("dealname") or "",
        amount=parse_amount(properties.get("amount")),
        deal_stage=properties.get("dealstage") or None,
        hubspot_created_at=parse_hubspot_datetime(properties.get("createdate"))
        or parse_hubspot_datetime(obj.get("createdAt")),
        updated_at=parse_hubspot_datetime(properties.get("hs_lastmodifieddate"))
        or parse_hubspot_datetime(obj.get("updatedAt")),
        hubspot_checked_in_at=checked_in_at,
        merged_from=merged_object_ids(properties),
        properties=properties,
        raw=obj,
    )


def _invalid(
    deal_id: str, reason: str, properties: dict[str, str | None], raw: dict[str, Any]
) -> InvalidRecord:
    logger.warning("hubspot_deal_invalid", extra={"hubspot_deal_id": deal_id, "reason": reason})
    return InvalidRecord(hubspot_deal_id=deal_id, reason=reason, properties=properties, raw=raw)


def object_id(obj: Any) -> str | None:
    """The record's id, or its hs_object_id property when the id is missing."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if value in (None, "") and isinstance(obj.get("properties"), dict):
        value = obj["properties"].get("hs_object_id")
    return None if value in (None, "") else str(value)


_Default = TypeVar("_Default", int, None)


def as_int(value: Any, *, default: _Default) -> int | _Default:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def log_batch_errors(data: dict[str, Any], *, operation: str) -> None:
    """Log the `errors[]` of a batch answer (207): which ids failed, and why."""
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        context = error.get("context")
        context = context if isinstance(context, dict) else {}
        ids = context.get("ids") or []
        logger.info(
            "hubspot_batch_item_errors",
            extra={
                "operation": operation,
                "category": error.get("category"),
                "error_message": str(error.get("message") or "")[:ERROR_MESSAGE_CHARS],
                "ids": ",".join(str(i) for i in ids[:20]),
                "id_count": len(ids),
            },
        )


VALIDATION_ERROR = "VALIDATION_ERROR"
NOT_FOUND = "OBJECT_NOT_FOUND"


def batch_failed_ids(data: dict[str, Any]) -> set[str]:
    """The ids a batch answer's `errors[]` name for any reason but not found."""
    failed: set[str] = set()
    for error in data.get("errors") or []:
        if isinstance(error, dict) and error.get("category") != NOT_FOUND:
            context = error.get("context")
            ids = context.get("ids") if isinstance(context, dict) else None
            failed.update(str(i) for i in ids or [])
    return failed


def batch_refusals(data: dict[str, Any]) -> list[RefusedUpdate]:
    """The inputs a batch answer's `errors[]` (207) name as refused for any reason but
    "no such deal": each with HubSpot's category and message."""
    refused: list[RefusedUpdate] = []
    for error in data.get("errors") or []:
        if not isinstance(error, dict) or error.get("category") == NOT_FOUND:
            continue
        context = error.get("context")
        ids = context.get("ids") if isinstance(context, dict) else None
        category = str(error.get("category") or "ERROR")
        message = str(error.get("message") or "HubSpot refused the update")
        for deal_id in ids if isinstance(ids, list) else []:
            refused.append(RefusedUpdate(str(deal_id), category, message[:ERROR_MESSAGE_CHARS]))
    return refused
