"""HubSpot CRM client for deals: search by checked-in time, read, batch read, batch update.

Public API (see `hubspot/types.py` for the result types):

    client = HubspotClient()        # everything from settings; or pass any argument explicitly
    for page in client.search_checked_in(since=..., until=...):   # Iterator[SearchPage]
        page.deals, page.invalid, page.request_count, page.rate_limited_count
    client.read_deal("123")         # HubspotDeal | InvalidRecord | None (None: no such deal)
    client.read_deals(["1", "2"])   # BatchReadResult(deals, invalid, missing_ids, ...)
    client.update_deals([("1", {"stage_x": "done"})])  # BatchUpdateResult(updated_ids, ...)
    client.request_count, client.rate_limited_count   # totals over the client's life

Behaviour worth knowing:
- Search returns every deal whose checked-in property is in [since, until], however many: it
  sorts by hs_object_id and, before HubSpot's 10,000-results-per-query cap, starts a new query
  with `hs_object_id GT <last id>`. Within one call no deal is returned twice or skipped, even
  if results shift while paging (see `search_checked_in`).
- Records whose checked-in value is missing or unparsable come back in `invalid` (and are
  logged at warning); they never stop the rest.
- 429, 5xx, timeouts, connection errors and malformed JSON are retried with backoff
  (Retry-After when HubSpot sends it); other 4xx fail at once. Failures raise `HubspotError`.
- Search requests first take a slot from the shared rate limiter (`hubspot.ratelimit`).
- The access token is only ever in the request's Authorization header: not in reprs, errors
  or logs. Exceptions from `requests` (which carry the request and so the token) are never
  chained or formatted; they are turned into a `HubspotError` with a safe message.
- One client per thread or task (it holds a `requests.Session` and counters).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from .ratelimit import RateLimiter, build_search_rate_limiter
from .types import (
    BatchReadResult,
    BatchUpdateResult,
    HubspotDeal,
    HubspotError,
    InvalidRecord,
    SearchPage,
    parse_amount,
    parse_hubspot_datetime,
    to_epoch_ms,
)

logger = logging.getLogger(__name__)

SEARCH_PATH = "/crm/v3/objects/deals/search"
BATCH_READ_PATH = "/crm/v3/objects/deals/batch/read"
BATCH_UPDATE_PATH = "/crm/v3/objects/deals/batch/update"
DEAL_PATH = "/crm/v3/objects/deals/{deal_id}"

SEARCH_PAGE_SIZE = 200  # HubSpot's maximum
SEARCH_RESULT_CAP = 10_000  # HubSpot answers 400 when paging past this many results per query
BATCH_SIZE = 100  # HubSpot's maximum inputs per batch call
ERROR_MESSAGE_CHARS = 300
BASE_PROPERTIES = ("dealname", "amount", "dealstage", "createdate", "hs_lastmodifieddate")


class _BearerAuth(requests.auth.AuthBase):
    """Adds the token at send time, so it is in no session header, repr or default dump."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth([redacted])"


@dataclass(frozen=True)
class _Reply:
    status: int
    data: dict[str, Any] | None
    request_count: int
    rate_limited_count: int


@dataclass(frozen=True)
class _Failure:
    """One attempt that may be retried: what happened, and the error to raise if it persists."""

    error: HubspotError
    retry_after: float | None = None
    rate_limited: bool = False


class HubspotClient:
    def __init__(
        self,
        *,
        access_token: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float | None = None,
        checked_in_property: str | None = None,
        search_limiter: RateLimiter | None = None,
        max_retries: int = 5,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        max_retry_after_seconds: float = 120.0,
        page_size: int = SEARCH_PAGE_SIZE,
        extra_properties: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """Every argument defaults to settings (HUBSPOT_*); `search_limiter` defaults to the
        shared Redis limiter (`build_search_rate_limiter()`). `max_retries` counts retries
        after the first attempt. `sleep` and `rng` are injectable so tests never wait."""
        token = settings.HUBSPOT_ACCESS_TOKEN if access_token is None else access_token
        if not token:
            raise ValueError("a HubSpot access token is required (HUBSPOT_ACCESS_TOKEN)")
        if not 1 <= page_size <= SEARCH_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {SEARCH_PAGE_SIZE}")
        self._token = token
        self.base_url = (base_url or settings.HUBSPOT_BASE_URL).rstrip("/")
        self.timeout_seconds = (
            settings.HUBSPOT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
        )
        self.checked_in_property = checked_in_property or settings.HUBSPOT_CHECKED_IN_PROPERTY
        self.search_limiter = (
            build_search_rate_limiter() if search_limiter is None else search_limiter
        )
        self.max_retries = max_retries
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.page_size = page_size
        self.properties = list(
            dict.fromkeys([*BASE_PROPERTIES, self.checked_in_property, *extra_properties])
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session = session or requests.Session()
        self._session.auth = _BearerAuth(token)
        self._session.headers.update({"Accept": "application/json"})
        self.request_count = 0
        self.rate_limited_count = 0

    def __repr__(self) -> str:
        return f"HubspotClient(base_url={self.base_url!r}, access_token=[redacted])"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HubspotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------
    # Operations
    # ------------------------------------------------------------------------------

    def search_checked_in(self, *, since: datetime, until: datetime) -> Iterator[SearchPage]:
        """Every deal whose checked-in property is in [since, until], one page at a time.

        Results are sorted by hs_object_id ascending. HubSpot pages with `after` (an offset)
        and refuses offsets past 10,000, so before the next page would cross that line a new
        query starts with `hs_object_id GT <last id seen>`; this holds however many deals
        share one timestamp (a calendar split would not).

        Offsets shift if deals enter or leave the result set while we page (search is
        eventually consistent; deals keep arriving). So a page whose `total` differs from the
        query's first page is not trusted: it is dropped and a new query resumes after the last
        id returned, and any id not above the last one returned is skipped. Deals that become
        visible behind the cursor during the call are left to the next sync's lookback.
        """
        since_ms, until_ms = to_epoch_ms(since), to_epoch_ms(until)
        if since_ms > until_ms:
            raise ValueError("since must not be after until")
        last_id: int | None = None
        query_number = 0
        # Requests spent on pages that were dropped, carried into the next page's counts.
        spent_requests = spent_throttled = 0
        while True:
            query_number += 1
            query_after_id = last_id  # fixed for the whole query; `after` pages within it
            after: str | None = None
            query_total: int | None = None
            while True:
                body = self._search_body(since_ms, until_ms, after_id=query_after_id, after=after)
                # Reference: https://developers.hubspot.com/docs/api-reference/crm-deals-v3/search/post-crm-v3-objects-deals-search
                reply = self._call("POST", SEARCH_PATH, json_body=body, rate_limited=True)
                data = reply.data or {}
                spent_requests += reply.request_count
                spent_throttled += reply.rate_limited_count
                results = data.get("results") or []
                total = _as_int(data.get("total"), default=len(results))
                if query_total is not None and total != query_total:
                    logger.info(
                        "hubspot_search_results_shifted",
                        extra={"query_total": query_total, "total": total, "after": after},
                    )
                    break  # a new query resumes after last_id
                query_total = total

                deals: list[HubspotDeal] = []
                invalid: list[InvalidRecord] = []
                for obj in results:
                    object_id = _as_int(_object_id(obj), default=None)
                    if object_id is not None:
                        if last_id is not None and object_id <= last_id:
                            continue  # already returned by an earlier page
                        last_id = object_id
                    parsed = self._parse_deal(obj)
                    if isinstance(parsed, HubspotDeal):
                        deals.append(parsed)
                    else:
                        invalid.append(parsed)
                yield SearchPage(
                    deals=deals,
                    invalid=invalid,
                    request_count=spent_requests,
                    rate_limited_count=spent_throttled,
                    total=total,
                    query_number=query_number,
                )
                spent_requests = spent_throttled = 0

                next_after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not results or not next_after:
                    return
                offset = _as_int(next_after, default=None)
                if offset is None or offset + self.page_size > SEARCH_RESULT_CAP:
                    # Near the cap (or an opaque cursor we cannot reason about): new query.
                    break
                after = str(next_after)

    def read_deal(self, deal_id: str) -> HubspotDeal | InvalidRecord | None:
        """One deal by id; None when HubSpot has no such deal (404)."""
        path = DEAL_PATH.format(deal_id=quote(str(deal_id), safe=""))
        # Reference: https://developers.hubspot.com/docs/api-reference/crm-deals-v3/basic/get-crm-v3-objects-deals-dealId
        reply = self._call(
            "GET", path, params={"properties": ",".join(self.properties)}, not_found_ok=True
        )
        if reply.status == 404 or reply.data is None:
            return None
        return self._parse_deal(reply.data)

    def read_deals(self, ids: Iterable[str]) -> BatchReadResult:
        """Many deals by id, 100 per request; ids HubSpot does not return are `missing_ids`."""
        unique_ids = list(dict.fromkeys(str(deal_id) for deal_id in ids))
        deals: list[HubspotDeal] = []
        invalid: list[InvalidRecord] = []
        missing: list[str] = []
        request_count = rate_limited_count = 0
        for chunk in _chunks(unique_ids, BATCH_SIZE):
            body = {
                "inputs": [{"id": deal_id} for deal_id in chunk],
                "properties": self.properties,
                "propertiesWithHistory": [],
            }
            # Reference: https://developers.hubspot.com/docs/api-reference/crm-deals-v3/batch/post-crm-v3-objects-deals-batch-read
            reply = self._call("POST", BATCH_READ_PATH, json_body=body)
            request_count += reply.request_count
            rate_limited_count += reply.rate_limited_count
            data = reply.data or {}
            returned: set[str] = set()
            for obj in data.get("results") or []:
                parsed = self._parse_deal(obj)
                returned.add(parsed.hubspot_deal_id)
                if isinstance(parsed, HubspotDeal):
                    deals.append(parsed)
                else:
                    invalid.append(parsed)
            _log_batch_errors(data, operation="batch_read")
            missing.extend(deal_id for deal_id in chunk if deal_id not in returned)
        return BatchReadResult(
            deals=deals,
            invalid=invalid,
            missing_ids=missing,
            request_count=request_count,
            rate_limited_count=rate_limited_count,
        )

    def update_deals(
        self, updates: Iterable[tuple[str, Mapping[str, str | None]]]
    ) -> BatchUpdateResult:
        """Set properties on many deals, 100 per request. A None value clears the property.

        HubSpot refuses a batch naming one id twice, so repeated ids are merged (later values
        win). Ids HubSpot did not update (no such deal) are `missing_ids`.
        """
        merged: dict[str, dict[str, str]] = {}
        for deal_id, properties in updates:
            values = {
                name: "" if value is None else str(value) for name, value in properties.items()
            }
            merged.setdefault(str(deal_id), {}).update(values)
        updated: list[str] = []
        missing: list[str] = []
        request_count = rate_limited_count = 0
        for chunk in _chunks(list(merged), BATCH_SIZE):
            body = {"inputs": [{"id": deal_id, "properties": merged[deal_id]} for deal_id in chunk]}
            # Reference: https://developers.hubspot.com/docs/api-reference/crm-deals-v3/batch/post-crm-v3-objects-deals-batch-update
            reply = self._call("POST", BATCH_UPDATE_PATH, json_body=body)
            request_count += reply.request_count
            rate_limited_count += reply.rate_limited_count
            data = reply.data or {}
            returned = {str(_object_id(obj)) for obj in data.get("results") or []}
            _log_batch_errors(data, operation="batch_update")
            updated.extend(deal_id for deal_id in chunk if deal_id in returned)
            missing.extend(deal_id for deal_id in chunk if deal_id not in returned)
        return BatchUpdateResult(
            updated_ids=updated,
            missing_ids=missing,
            request_count=request_count,
            rate_limited_count=rate_limited_count,
        )

    # ------------------------------------------------------------------------------
    # Parsing
    # ------------------------------------------------------------------------------

    def _search_body(
        self, since_ms: int, until_ms: int, *, after_id: int | None, after: str | None
    ) -> dict[str, Any]:
        # HubSpot's search takes datetime filter values as epoch-millisecond strings.
        filters = [
            {"propertyName": self.checked_in_property, "operator": "GTE", "value": str(since_ms)},
            {"propertyName": self.checked_in_property, "operator": "LTE", "value": str(until_ms)},
        ]
        if after_id is not None:
            filters.append(
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}
            )
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }
        if after is not None:
            body["after"] = after
        return body

    def _parse_deal(self, obj: Any) -> HubspotDeal | InvalidRecord:
        if not isinstance(obj, dict):
            return self._invalid("", "the record is not a JSON object", {})
        raw_properties = obj.get("properties")
        properties: dict[str, str | None] = (
            {str(k): None if v is None else str(v) for k, v in raw_properties.items()}
            if isinstance(raw_properties, dict)
            else {}
        )
        deal_id = str(_object_id(obj) or "")
        if not deal_id:
            return self._invalid("", "the record has no id", properties)
        raw_checked_in = properties.get(self.checked_in_property)
        if raw_checked_in is None or not raw_checked_in.strip():
            reason = f"{self.checked_in_property} is missing"
            return self._invalid(deal_id, reason, properties)
        checked_in_at = parse_hubspot_datetime(raw_checked_in)
        if checked_in_at is None:
            reason = f"{self.checked_in_property} is not a datetime: {raw_checked_in[:60]!r}"
            return self._invalid(deal_id, reason, properties)
        return HubspotDeal(
            hubspot_deal_id=deal_id,
            name=properties.get("dealname") or "",
            amount=parse_amount(properties.get("amount")),
            deal_stage=properties.get("dealstage") or None,
            created_at=parse_hubspot_datetime(properties.get("createdate"))
            or parse_hubspot_datetime(obj.get("createdAt")),
            updated_at=parse_hubspot_datetime(properties.get("hs_lastmodifieddate"))
            or parse_hubspot_datetime(obj.get("updatedAt")),
            checked_in_at=checked_in_at,
            properties=properties,
        )

    def _invalid(
        self, deal_id: str, reason: str, properties: dict[str, str | None]
    ) -> InvalidRecord:
        logger.warning("hubspot_deal_invalid", extra={"hubspot_deal_id": deal_id, "reason": reason})
        return InvalidRecord(hubspot_deal_id=deal_id, reason=reason, properties=properties)

    # ------------------------------------------------------------------------------
    # HTTP with retries
    # ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        rate_limited: bool = False,
        not_found_ok: bool = False,
    ) -> _Reply:
        """Send one API call, retrying transient failures; return its JSON or raise."""
        request_count = rate_limited_count = 0
        attempt = 0
        while True:
            if rate_limited:
                wait = self.search_limiter.acquire()
                if wait > 0:
                    self._sleep(wait)
            request_count += 1
            self.request_count += 1
            outcome = self._attempt(method, path, json_body=json_body, params=params)
            if isinstance(outcome, _Reply):
                return _Reply(outcome.status, outcome.data, request_count, rate_limited_count)
            if outcome.rate_limited:
                rate_limited_count += 1
                self.rate_limited_count += 1
            if outcome.error.status == 404 and not_found_ok:
                return _Reply(404, None, request_count, rate_limited_count)
            if not outcome.error.transient or attempt >= self.max_retries:
                logger.warning(
                    "hubspot_request_failed",
                    extra={
                        "method": method,
                        "path": path,
                        "status": outcome.error.status,
                        "category": outcome.error.category,
                        "attempts": attempt + 1,
                        "correlation_id": outcome.error.correlation_id,
                    },
                )
                raise outcome.error
            wait = self._retry_wait(attempt, outcome.retry_after)
            logger.warning(
                "hubspot_request_retry",
                extra={
                    "method": method,
                    "path": path,
                    "status": outcome.error.status,
                    "category": outcome.error.category,
                    "attempt": attempt + 1,
                    "wait_seconds": round(wait, 3),
                },
            )
            self._sleep(wait)
            attempt += 1

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> _Reply | _Failure:
        where = f"{method} {path}"
        # `requests` exceptions carry the prepared request, headers and token included: they
        # are caught here and never re-raised, chained or formatted; only their kind is kept.
        failure: HubspotError | None = None
        response: requests.Response | None = None
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=json_body,
                params=params,
                timeout=self.timeout_seconds,
            )
        except requests.Timeout:
            failure = HubspotError(
                status=None,
                category="TIMEOUT",
                message=f"no answer within {self.timeout_seconds}s: {where}",
                transient=True,
            )
        except (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            failure = HubspotError(
                status=None,
                category="CONNECTION_ERROR",
                message=f"{type(exc).__name__} talking to HubSpot: {where}",
                transient=True,
            )
        except requests.RequestException as exc:
            failure = HubspotError(
                status=None,
                category="REQUEST_FAILED",
                message=f"{type(exc).__name__} building or sending {where}",
            )
        if failure is not None or response is None:
            return _Failure(error=failure or _unknown_failure(where))

        status = response.status_code
        if 200 <= status < 300:
            data = self._json_object(response)
            if data is None:
                return _Failure(
                    error=self._error(
                        response,
                        category="MALFORMED_RESPONSE",
                        message=f"HubSpot answered {status} with a body that is not a JSON "
                        f"object: {where}",
                        transient=True,
                    )
                )
            return _Reply(status, data, 0, 0)
        if status == 429:
            return _Failure(
                error=self._error(response, category="RATE_LIMIT", transient=True),
                retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
                rate_limited=True,
            )
        if status >= 500:
            return _Failure(error=self._error(response, category="SERVER_ERROR", transient=True))
        if status == 401:
            return _Failure(
                error=self._error(
                    response,
                    category="INVALID_AUTHENTICATION",
                    message="HubSpot rejected the access token (401)",
                )
            )
        return _Failure(error=self._error(response, category="CLIENT_ERROR"))

    def _json_object(self, response: requests.Response) -> dict[str, Any] | None:
        try:
            data = json.loads(response.content)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _error(
        self,
        response: requests.Response,
        *,
        category: str,
        message: str | None = None,
        transient: bool = False,
    ) -> HubspotError:
        """A HubspotError from HubSpot's error body (every field optional), token-free."""
        text = self._redact(response.text or "")
        body = self._json_object(response) or {}
        body_message = body.get("message") if isinstance(body.get("message"), str) else None
        body_category = body.get("category") or body.get("errorType")
        correlation_id = body.get("correlationId") or response.headers.get(
            "X-HubSpot-Correlation-Id"
        )
        if message is None:
            message = body_message or f"HubSpot answered {response.status_code}"
        return HubspotError(
            status=response.status_code,
            category=str(body_category or category),
            message=self._redact(message)[:ERROR_MESSAGE_CHARS],
            correlation_id=str(correlation_id) if correlation_id else None,
            body_excerpt=text,
            transient=transient,
        )

    def _redact(self, text: str) -> str:
        # HubSpot does not echo tokens, but an error body is foreign text: make sure.
        return text.replace(self._token, "[redacted]") if self._token else text

    def _retry_wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_seconds)
        # Exponential backoff with jitter, so workers that failed together retry apart.
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        return self._rng.uniform(ceiling / 2, ceiling)


def _unknown_failure(where: str) -> HubspotError:  # pragma: no cover - defensive
    return HubspotError(status=None, category="REQUEST_FAILED", message=f"no response: {where}")


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _object_id(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if value in (None, "") and isinstance(obj.get("properties"), dict):
        value = obj["properties"].get("hs_object_id")
    return None if value in (None, "") else str(value)


def _as_int(value: Any, *, default: int | None) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _log_batch_errors(data: dict[str, Any], *, operation: str) -> None:
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        context = error.get("context") if isinstance(error.get("context"), dict) else {}
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


__all__ = [
    "BatchReadResult",
    "BatchUpdateResult",
    "HubspotClient",
    "HubspotDeal",
    "HubspotError",
    "InvalidRecord",
    "SearchPage",
]
