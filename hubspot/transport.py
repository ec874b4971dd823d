"""HTTP to HubSpot: one API call at a time, retried when that may help, failing as a
`HubspotError` that carries no secret.

`HubspotClient` (client.py) holds one transport and says which calls to make; this module
says how a call is sent:

- The access token is only ever in the request's Authorization header, added at send time:
  not in the session's headers, reprs, errors or logs. Exceptions from `requests` (which
  carry the request and so the token) are never chained or formatted; they become a
  `HubspotError` with a safe message. Error bodies are redacted too (foreign text).
- 429, 5xx, timeouts, connection errors and malformed JSON are retried with backoff
  (Retry-After when HubSpot sends it, else exponential with jitter); other 4xx fail at once.
- A call given a rate limiter takes a slot from it before every attempt, retries included.
- `request_count` / `rate_limited_count` total the requests sent and the 429s met.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .answers import int_header, missing_scopes, retry_after_seconds
from .quota import DAILY_LIMIT, DailyQuota, limit_reached_message
from .ratelimit import RateLimiter
from .request_counts import RequestCounts, endpoint_kind
from .types import HubspotError

logger = logging.getLogger(__name__)

ERROR_MESSAGE_CHARS = 300


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
class Reply:
    """One call's answer: its status, its JSON object (None for a tolerated 404), and
    what it cost (requests sent, retries included, and 429s met)."""

    status: int
    data: dict[str, Any] | None
    request_count: int
    rate_limited_count: int
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class _Failure:
    """One attempt that may be retried: what happened, and the error to raise if it persists."""

    error: HubspotError
    retry_after: float | None = None
    rate_limited: bool = False
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class HubspotTransport:
    def __init__(
        self,
        *,
        access_token: str,
        base_url: str,
        timeout_seconds: float,
        max_retries: int = 5,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        max_retry_after_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        quota: DailyQuota | None = None,
        request_counts: RequestCounts | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt. `sleep` and `rng` are
        injectable so tests never wait. With a `quota`, the daily limit's stop is shared
        (quota.py): no request is sent while it holds, and a DAILY 429 sets it."""
        if not access_token:
            raise ValueError("a HubSpot access token is required (HUBSPOT_ACCESS_TOKEN)")
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._session = session or requests.Session()
        self._session.auth = _BearerAuth(access_token)
        self._session.headers.update({"Accept": "application/json"})
        self.quota = quota
        self.request_counts = request_counts  # shared, for the metrics (request_counts.py)
        self.request_count = 0
        self.rate_limited_count = 0

    def __repr__(self) -> str:
        return f"HubspotTransport(base_url={self.base_url!r}, access_token=[redacted])"

    def close(self) -> None:
        self._session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        limiter: RateLimiter | None = None,
        not_found_ok: bool = False,
    ) -> Reply:
        """Send one API call, retrying transient failures; return its JSON or raise."""
        request_count = rate_limited_count = 0
        attempt = 0
        while True:
            self._raise_if_daily_limit_reached()
            if limiter is not None:
                wait = limiter.acquire()
                if wait > 0:
                    self.sleep(wait)
            request_count += 1
            self.request_count += 1
            outcome = self._attempt(method, path, json_body=json_body, params=params)
            if self.request_counts is not None:
                self.request_counts.record(
                    kind=endpoint_kind(method, path),
                    rate_limited=isinstance(outcome, _Failure) and outcome.rate_limited,
                )
            if isinstance(outcome, Reply | _Failure) and outcome.headers:
                self._follow_headers(outcome.headers, limiter)
            if isinstance(outcome, Reply):
                return Reply(outcome.status, outcome.data, request_count, rate_limited_count)
            if outcome.rate_limited:
                rate_limited_count += 1
                self.rate_limited_count += 1
            if outcome.error.category == DAILY_LIMIT:
                # Waiting seconds will not help: stop every process until the reset.
                until = self.quota.stop() if self.quota is not None else None
                if until is not None:
                    outcome.error.message = limit_reached_message(until)
                    outcome.error.args = (outcome.error.message,)
                raise outcome.error
            if outcome.error.status == 404 and not_found_ok:
                return Reply(404, None, request_count, rate_limited_count)
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
            self.sleep(wait)
            attempt += 1

    def _raise_if_daily_limit_reached(self) -> None:
        until = self.quota.stopped_until() if self.quota is not None else None
        if until is not None:
            raise HubspotError(
                status=None,
                category=DAILY_LIMIT,
                message=limit_reached_message(until),
                transient=True,
            )

    def _follow_headers(self, headers: dict[str, str], limiter: RateLimiter | None) -> None:
        """What HubSpot says of the account's limits (non-search answers only)."""
        limit = int_header(headers, "X-HubSpot-RateLimit-Max")
        interval_ms = int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        follow = getattr(limiter, "follow", None)
        if follow is not None and limit and interval_ms:
            follow(limit=limit, interval_ms=interval_ms)
        remaining = int_header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if self.quota is not None and remaining is not None:
            self.quota.record(
                limit=int_header(headers, "X-HubSpot-RateLimit-Daily"), remaining=remaining
            )

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> Reply | _Failure:
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

        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower().startswith("x-hubspot-ratelimit-")
        }
        outcome = self._outcome(response, where)
        if isinstance(outcome, Reply):
            return Reply(outcome.status, outcome.data, 0, 0, headers)
        return _Failure(outcome.error, outcome.retry_after, outcome.rate_limited, headers)

    def _outcome(self, response: requests.Response, where: str) -> Reply | _Failure:
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
            return Reply(status, data, 0, 0)
        if status == 429:
            body = self._json_object(response) or {}
            if body.get("policyName") == "DAILY":
                return _Failure(
                    error=self._error(
                        response,
                        category=DAILY_LIMIT,
                        message="HubSpot's daily API limit is reached",
                        transient=True,
                        category_from_body=False,
                    ),
                    rate_limited=True,
                )
            return _Failure(
                error=self._error(response, category="RATE_LIMIT", transient=True),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                rate_limited=True,
            )
        if status >= 500:
            return _Failure(error=self._error(response, category="SERVER_ERROR", transient=True))
        if status == 401:
            return _Failure(
                error=self._error(
                    response,
                    category="INVALID_AUTHENTICATION",
                    message="HubSpot rejected the access token (401): check "
                    "HUBSPOT_ACCESS_TOKEN (a Service Key or a project app's access token)",
                )
            )
        if status == 403:
            scopes = missing_scopes(self._json_object(response) or {})
            return _Failure(
                error=self._error(
                    response,
                    category="FORBIDDEN",
                    message="HubSpot refused the call (403): the access token lacks the scope "
                    + (", ".join(scopes) if scopes else "this call needs")
                    + " (add it to the Service Key or the app)",
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
        category_from_body: bool = True,
    ) -> HubspotError:
        """A HubspotError from HubSpot's error body (every field optional), token-free."""
        text = self._redact(response.text or "")
        body = self._json_object(response) or {}
        body_message = body.get("message") if isinstance(body.get("message"), str) else None
        body_category = (
            (body.get("category") or body.get("errorType")) if category_from_body else None
        )
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
