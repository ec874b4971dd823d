"""HubSpot CRM client for deals: search (by check-in or modification), batch read and
batch update, on HubSpot's date-versioned API (HUBSPOT_API_VERSION).

Public API (see `hubspot/types.py` for the result types):

    client = HubspotClient()        # everything from settings; or pass any argument explicitly
    for page in client.search_checked_in(since=..., until=...):   # Iterator[SearchPage]
    for page in client.search_modified(since=..., until=...):     # changed in HubSpot then
        page.deals, page.invalid, page.request_count, page.rate_limited_count
    client.read_deals(["1", "2"])   # BatchReadResult(deals, invalid, missing_ids, ...)
    client.update_deals([("1", {"stage_x": "done"})])  # BatchUpdateResult(updated_ids, ...)
    client.request_count, client.rate_limited_count   # totals over the client's life

Behaviour worth knowing:
- Search returns every matching deal however many, each once (search_pages.py).
- Records whose checked-in value is missing or unparsable come back in `invalid`; they
  never stop the rest (parsing.py).
- Every call goes through the transport (transport.py): retries with backoff on 429, 5xx,
  timeouts and malformed JSON, other 4xx at once, failures as `HubspotError`, the token
  never in reprs, errors or logs; the daily-limit stop (quota.py); a slot from a shared
  rate limiter first (ratelimit.py). One client per thread or task.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from django.conf import settings

from .parsing import (
    VALIDATION_ERROR,
    batch_failed_ids,
    batch_refusals,
    log_batch_errors,
    object_id,
    parse_deal,
)
from .quota import DailyQuota, build_daily_quota
from .ratelimit import RateLimiter, build_general_rate_limiter, build_search_rate_limiter
from .request_counts import build_request_counts
from .search_pages import search_body, search_pages
from .transport import HubspotTransport, Reply
from .types import (
    BatchReadResult,
    BatchUpdateResult,
    HubspotDeal,
    HubspotError,
    InvalidRecord,
    RefusedUpdate,
    SearchPage,
    merged_object_ids,
    to_epoch_ms,
)

logger = logging.getLogger(__name__)


def deals_path(version: str, rest: str = "") -> str:
    """Every CRM path the client calls, built here: HubSpot's date-versioned form,
    `/crm/objects/{version}/deals` + rest (NOTES.md, "API versions and credentials")."""
    return f"/crm/objects/{version}/deals{rest}"


SEARCH_PAGE_SIZE = 200  # HubSpot's maximum
BATCH_SIZE = 100  # HubSpot's maximum inputs per batch call
BASE_PROPERTIES = (
    "dealname",
    "amount",
    "dealstage",
    "createdate",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",  # a merge's survivor names the deals it absorbed
)


class HubspotClient:
    def __init__(
        self,
        *,
        access_token: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout_seconds: float | None = None,
        checked_in_property: str | None = None,
        search_limiter: RateLimiter | None = None,
        general_limiter: RateLimiter | None = None,
        max_retries: int = 5,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        max_retry_after_seconds: float = 120.0,
        page_size: int = SEARCH_PAGE_SIZE,
        extra_properties: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        quota: DailyQuota | None = None,
    ) -> None:
        """Every argument defaults to settings (HUBSPOT_*); the limiters default to the
        shared Redis ones: `build_search_rate_limiter()` for search and
        `build_general_rate_limiter()` for every other call, and the shared daily-limit stop
        `build_daily_quota()`. `max_retries` counts retries
        after the first attempt. `sleep` and `rng` are injectable so tests never wait."""
        token = settings.HUBSPOT_ACCESS_TOKEN if access_token is None else access_token
        if not 1 <= page_size <= SEARCH_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {SEARCH_PAGE_SIZE}")
        self.transport = HubspotTransport(
            access_token=token,
            base_url=base_url or settings.HUBSPOT_BASE_URL,
            timeout_seconds=settings.HUBSPOT_TIMEOUT_SECONDS
            if timeout_seconds is None
            else timeout_seconds,
            max_retries=max_retries,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            sleep=sleep,
            rng=rng,
            session=session,
            quota=build_daily_quota() if quota is None else quota,
            request_counts=build_request_counts(),
        )
        self.checked_in_property = checked_in_property or settings.HUBSPOT_CHECKED_IN_PROPERTY
        self.api_version = api_version or settings.HUBSPOT_API_VERSION
        self.search_limiter = (
            build_search_rate_limiter() if search_limiter is None else search_limiter
        )
        self.general_limiter = (
            build_general_rate_limiter() if general_limiter is None else general_limiter
        )
        self.page_size = page_size
        self.properties = list(
            dict.fromkeys([*BASE_PROPERTIES, self.checked_in_property, *extra_properties])
        )

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def timeout_seconds(self) -> float:
        return self.transport.timeout_seconds

    @property
    def request_count(self) -> int:
        """HTTP requests sent over the client's life, retries included."""
        return self.transport.request_count

    @property
    def rate_limited_count(self) -> int:
        """429 answers met over the client's life."""
        return self.transport.rate_limited_count

    def daily_limit_reached_until(self) -> datetime | None:
        """When calls resume, while HubSpot's daily API limit is reached (quota.py)."""
        quota = self.transport.quota
        return quota.stopped_until() if quota is not None else None

    def __repr__(self) -> str:
        return f"HubspotClient(base_url={self.base_url!r}, access_token=[redacted])"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HubspotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------
    # Operations
    # ------------------------------------------------------------------------------

    def search_checked_in(self, *, since: datetime, until: datetime) -> Iterator[SearchPage]:
        """Every deal whose checked-in property is in [since, until], one page at a time
        (see `_search`)."""
        return self._search(self.checked_in_property, since=since, until=until)

    def search_modified(self, *, since: datetime, until: datetime) -> Iterator[SearchPage]:
        """Every checked-in deal HubSpot modified in [since, until] (its own
        `hs_lastmodifieddate`, bumped by any property change), one page at a time (see
        `_search`): what an incremental poll reads."""
        return self._search(
            "hs_lastmodifieddate",
            since=since,
            until=until,
            also=[{"propertyName": self.checked_in_property, "operator": "HAS_PROPERTY"}],
        )

    def _search(
        self,
        window_property: str,
        *,
        since: datetime,
        until: datetime,
        also: Sequence[dict[str, str]] = (),
    ) -> Iterator[SearchPage]:
        """Every deal whose `window_property` is in [since, until] (and matching the
        filters `also`), one page at a time, exactly once (search_pages.py)."""
        since_ms, until_ms = to_epoch_ms(since), to_epoch_ms(until)
        if since_ms > until_ms:
            raise ValueError("since must not be after until")

        def send(after_id: int | None, after: str | None) -> Reply:
            filters = [
                {"propertyName": window_property, "operator": "GTE", "value": str(since_ms)},
                {"propertyName": window_property, "operator": "LTE", "value": str(until_ms)},
                *also,
            ]
            body = search_body(
                filters=filters,
                properties=self.properties,
                page_size=self.page_size,
                after_id=after_id,
                after=after,
            )
            # Reference: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/deals/search-deals
            return self.transport.call(
                "POST",
                deals_path(self.api_version, "/search"),
                json_body=body,
                limiter=self.search_limiter,
            )

        return search_pages(send=send, parse=self._parse_deal, page_size=self.page_size)

    def read_deals(self, ids: Iterable[str]) -> BatchReadResult:
        """Many deals by id, 100 per request; ids HubSpot does not return are `missing_ids`.

        HubSpot answers a merged-away id with the deal it was merged into, under that
        deal's id: such ids are `merged` (id -> survivor), the survivor returned once.
        """
        unique_ids = list(dict.fromkeys(str(deal_id) for deal_id in ids))
        deals: list[HubspotDeal] = []
        invalid: list[InvalidRecord] = []
        missing: list[str] = []
        merged: dict[str, str] = {}
        failed: list[str] = []
        seen: set[str] = set()
        request_count = rate_limited_count = 0
        for chunk in _chunks(unique_ids, BATCH_SIZE):
            body = {
                "inputs": [{"id": deal_id} for deal_id in chunk],
                "properties": self.properties,
                "propertiesWithHistory": [],
            }
            # Reference: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/deals/batch/read-deals
            reply = self.transport.call(
                "POST",
                deals_path(self.api_version, "/batch/read"),
                json_body=body,
                limiter=self.general_limiter,
            )
            request_count += reply.request_count
            rate_limited_count += reply.rate_limited_count
            data = reply.data or {}
            returned: set[str] = set()
            absorbed_by: dict[str, str] = {}
            for obj in data.get("results") or []:
                parsed = self._parse_deal(obj)
                returned.add(parsed.hubspot_deal_id)
                for absorbed in merged_object_ids(parsed.properties):
                    absorbed_by[absorbed] = parsed.hubspot_deal_id
                if parsed.hubspot_deal_id in seen:
                    continue  # a survivor answering several merged-away ids
                seen.add(parsed.hubspot_deal_id)
                if isinstance(parsed, HubspotDeal):
                    deals.append(parsed)
                else:
                    invalid.append(parsed)
            log_batch_errors(data, operation="batch_read")
            unknown = batch_failed_ids(data)
            for deal_id in chunk:
                if deal_id in returned:
                    continue
                if deal_id in absorbed_by:
                    merged[deal_id] = absorbed_by[deal_id]
                elif deal_id in unknown:
                    failed.append(deal_id)
                else:
                    missing.append(deal_id)
        return BatchReadResult(
            deals=deals,
            invalid=invalid,
            missing_ids=missing,
            request_count=request_count,
            rate_limited_count=rate_limited_count,
            merged=merged,
            failed_ids=failed,
        )

    def update_deals(
        self, updates: Iterable[tuple[str, Mapping[str, str | None]]]
    ) -> BatchUpdateResult:
        """Set properties on many deals, 100 per request. A None value clears the property.

        HubSpot refuses a batch naming one id twice, so repeated ids are merged (later values
        win). Ids HubSpot has no deal for are `missing_ids`. Inputs the account's validation
        rules refuse are `refused`, with HubSpot's category and message; every other input is
        still written: HubSpot names them in a 207, and when it refuses a whole batch (400
        VALIDATION_ERROR) without naming the input, the batch is halved until the refused
        inputs are alone (a few requests for one offender among 100, not 100 failures).
        """
        merged: dict[str, dict[str, str]] = {}
        for deal_id, properties in updates:
            values = {
                name: "" if value is None else str(value) for name, value in properties.items()
            }
            merged.setdefault(str(deal_id), {}).update(values)
        outcome = _UpdateOutcome()
        pending = list(_chunks(list(merged), BATCH_SIZE))
        while pending:
            chunk = pending.pop(0)
            refused_whole = self._update_batch(chunk, merged, outcome)
            if refused_whole is None:
                continue
            if len(chunk) == 1:
                outcome.refused.append(
                    RefusedUpdate(chunk[0], refused_whole.category, refused_whole.message)
                )
            else:
                middle = len(chunk) // 2
                pending[:0] = [chunk[:middle], chunk[middle:]]
        return BatchUpdateResult(
            updated_ids=outcome.updated,
            missing_ids=outcome.missing,
            request_count=outcome.request_count,
            rate_limited_count=outcome.rate_limited_count,
            refused=outcome.refused,
        )

    def _update_batch(
        self, chunk: list[str], merged: dict[str, dict[str, str]], outcome: _UpdateOutcome
    ) -> HubspotError | None:
        """One batch update; the error when HubSpot's rules refused the batch as a whole."""
        body = {"inputs": [{"id": deal_id, "properties": merged[deal_id]} for deal_id in chunk]}
        before = (self.request_count, self.rate_limited_count)
        try:
            # Reference: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/deals/batch/update-deals
            reply = self.transport.call(
                "POST",
                deals_path(self.api_version, "/batch/update"),
                json_body=body,
                limiter=self.general_limiter,
            )
        except HubspotError as exc:
            if exc.status == 400 and exc.category == VALIDATION_ERROR:
                outcome.request_count += self.request_count - before[0]
                outcome.rate_limited_count += self.rate_limited_count - before[1]
                return exc
            raise
        outcome.request_count += reply.request_count
        outcome.rate_limited_count += reply.rate_limited_count
        data = reply.data or {}
        returned = {str(object_id(obj)) for obj in data.get("results") or []}
        log_batch_errors(data, operation="batch_update")
        refused = {r.hubspot_deal_id: r for r in batch_refusals(data) if r.hubspot_deal_id in chunk}
        for deal_id in chunk:
            if deal_id in returned:
                outcome.updated.append(deal_id)
            elif deal_id in refused:
                outcome.refused.append(refused[deal_id])
            else:
                outcome.missing.append(deal_id)
        return None

    def _parse_deal(self, obj: Any) -> HubspotDeal | InvalidRecord:
        return parse_deal(obj, checked_in_property=self.checked_in_property)


@dataclass
class _UpdateOutcome:
    updated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[RefusedUpdate] = field(default_factory=list)
    request_count: int = 0
    rate_limited_count: int = 0


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
