"""What the HubSpot client returns, and the one error it raises.

Plain dataclasses, so the sync service can use them without knowing HubSpot's JSON:

- `HubspotDeal`: a deal with a usable checked-in time, its main fields typed: the `deals`
  app's DealFromHubspot, plus what only this app reads.
- `InvalidRecord`: a deal HubSpot returned that we cannot use (no or an unparsable checked-in
  value). Returned next to the good ones, never raised: one bad record must not stop a sync.
- `SearchPage`, `BatchReadResult`, `BatchUpdateResult`: one call's results plus the number of
  HTTP requests it took and the 429s it met (the sync records both).
- `HubspotError`: anything HubSpot (or the network) refused for good, after retries.

The parsing helpers (`parse_hubspot_datetime`, `parse_amount`) are pure functions, usable on
webhook payloads too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from deals.services import DealFromHubspot

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BODY_EXCERPT_CHARS = 500


@dataclass(frozen=True, kw_only=True)
class HubspotDeal(DealFromHubspot):
    """A deal read from HubSpot: what the `deals` table keeps (DealFromHubspot, the same
    names, handed to the upsert as it is), and what only this app reads."""

    hubspot_checked_in_at: datetime  # always there: a deal without one is an InvalidRecord
    updated_at: datetime | None = None
    # Every property HubSpot sent, as strings (or None), for anything not typed above.
    properties: dict[str, str | None] = field(default_factory=dict, repr=False)
    # The object as HubSpot sent it (kept for debugging: hubspot.services.payloads).
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def merged_object_ids(properties: dict[str, str | None]) -> tuple[str, ...]:
    """HubSpot's `hs_merged_object_ids` ("123;456"): the ids a merge survivor absorbed."""
    text = properties.get("hs_merged_object_ids") or ""
    return tuple(dict.fromkeys(i.strip() for i in text.split(";") if i.strip().isdigit()))


@dataclass(frozen=True)
class InvalidRecord:
    hubspot_deal_id: str
    reason: str
    properties: dict[str, str | None] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: the deals, the records we could not use, and what it cost.

    `query_number` counts the queries of one `search_checked_in` call (1, 2, ...): a new query
    starts when the 10,000-result cap is near. `total` is HubSpot's count for that query.
    """

    deals: list[HubspotDeal]
    invalid: list[InvalidRecord]
    request_count: int
    rate_limited_count: int
    total: int
    query_number: int


@dataclass(frozen=True)
class BatchReadResult:
    deals: list[HubspotDeal]
    invalid: list[InvalidRecord]
    missing_ids: list[str]  # asked for, not returned (HubSpot's OBJECT_NOT_FOUND)
    request_count: int
    rate_limited_count: int
    # Asked-for ids HubSpot answered with another deal: merged away, id -> the survivor's
    # id (the survivor is among `deals` or `invalid`, once).
    merged: dict[str, str] = field(default_factory=dict)
    # Asked-for ids a 207 named with an error other than not found: unknown, not missing.
    failed_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefusedUpdate:
    """An update HubSpot refused for this input (a validation rule of the account, from
    2026-09 on): waiting will not change it, so it is not retried."""

    hubspot_deal_id: str
    category: str  # HubSpot's, e.g. VALIDATION_ERROR
    message: str  # HubSpot's, naming the property


@dataclass(frozen=True)
class BatchUpdateResult:
    updated_ids: list[str]
    missing_ids: list[str]  # asked to update, not updated: HubSpot has no such deal
    request_count: int
    rate_limited_count: int
    refused: list[RefusedUpdate] = field(default_factory=list)


# HubSpot's record ids fit a signed 64-bit integer; a longer one is no HubSpot id.
MAX_DEAL_ID = 2**63 - 1


class HubspotError(Exception):
    """HubSpot refused a call, or kept failing until retries ran out.

    Built only from safe parts: the status, HubSpot's category, message and correlation id,
    and a short excerpt of the body. Never the request, its headers or the access token.
    """

    def __init__(
        self,
        *,
        status: int | None,
        category: str,
        message: str,
        correlation_id: str | None = None,
        body_excerpt: str = "",
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.correlation_id = correlation_id
        self.body_excerpt = body_excerpt[:BODY_EXCERPT_CHARS]
        # True when retrying later may well succeed (429, 5xx, timeouts): the caller may
        # schedule another attempt; False for a refusal (4xx) that will not change by itself.
        self.transient = transient

    def __reduce__(self) -> tuple:
        # The keyword-only __init__ defeats pickle's default (it replays `args`); spell out
        # how to rebuild, for multiprocessing and result backends that pickle exceptions.
        fields = {
            "status": self.status,
            "category": self.category,
            "message": self.message,
            "correlation_id": self.correlation_id,
            "body_excerpt": self.body_excerpt,
            "transient": self.transient,
        }
        return (_rebuild_hubspot_error, (fields,))

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no response"
        text = f"HubSpot error ({status}, {self.category}): {self.message}"
        if self.correlation_id:
            text += f" [correlationId={self.correlation_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"HubspotError(status={self.status!r}, category={self.category!r}, "
            f"message={self.message!r}, correlation_id={self.correlation_id!r})"
        )


def _rebuild_hubspot_error(fields: dict) -> HubspotError:
    return HubspotError(**fields)


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, the form HubSpot's search filters take for datetimes."""
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return (value - _EPOCH) // timedelta(milliseconds=1)


def parse_hubspot_datetime(value: str | None) -> datetime | None:
    """An aware UTC datetime from HubSpot's two forms, or None when missing or unparsable.

    HubSpot sends ISO-8601 ("2024-01-17T19:55:04.281Z"), date-only values for date
    properties ("2024-01-17"), and epoch-millisecond strings ("1579514400000").
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
        try:
            return _EPOCH + timedelta(milliseconds=int(text))
        except OverflowError:
            return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # HubSpot's date-only and zone-less values are UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_amount(value: str | None) -> Decimal | None:
    """The deal amount, or None when missing, empty or not a finite number."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


__all__ = [
    "BatchReadResult",
    "BatchUpdateResult",
    "HubspotDeal",
    "HubspotError",
    "InvalidRecord",
    "RefusedUpdate",
    "SearchPage",
    "merged_object_ids",
    "parse_amount",
    "parse_hubspot_datetime",
    "to_epoch_ms",
]
