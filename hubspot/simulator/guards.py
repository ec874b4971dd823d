"""What stands before the simulator's CRM endpoints, as at HubSpot: the bearer token, the
search rate limit and the general limit for every other call
(../shared/hubspot-spec/NOTES.md, "Rate limits")."""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from email.message import Message

from .config import SimulatorConfig
from .protocol import Answer, error_answer

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def authorized(headers: Mapping[str, str] | Message[str, str], token: str) -> bool:
    """A bearer token equal to `token` (compared in constant time)."""
    value = headers.get("Authorization") or ""
    scheme, _, given = value.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def unauthorized() -> Answer:
    return error_answer(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)


class SearchRateLimit:
    """GCRA: `search_rps` per second with a burst of `search_burst` (read from the config on
    every request, so both change at run time); refused requests do not use up the budget
    (as with HubSpot, a 429 costs nothing)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.refused = 0
        self._tat = 0.0  # the theoretical arrival time
        self._lock = threading.Lock()

    def admit(self) -> bool:
        rps = self.config.search_rps
        if rps <= 0:
            return True
        interval = 1.0 / rps
        tolerance = (self.config.search_burst - 1) * interval
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            if now < tat - tolerance:
                self.refused += 1
                return False
            self._tat = tat + interval
            return True

    def reset_count(self) -> None:
        with self._lock:
            self.refused = 0

    def refusal(self) -> Answer:
        """HubSpot's 429 for the per-second search limit (recognised by its message)."""
        return _rate_limited(
            "You have reached your secondly limit.", "SECONDLY", self.config.retry_after_seconds
        )


class GeneralRateLimit:
    """`general_limit_10s` requests per rolling 10 seconds for every call but search
    (0: no limit); refused requests do not count."""

    WINDOW = 10.0

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.refused = 0
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        limit = int(self.config.general_limit_10s)
        if limit <= 0:
            return True
        with self._lock:
            now = time.monotonic()
            while self._admitted and self._admitted[0] <= now - self.WINDOW:
                self._admitted.popleft()
            if len(self._admitted) >= limit:
                self.refused += 1
                return False
            self._admitted.append(now)
            return True

    def reset_count(self) -> None:
        with self._lock:
            self.refused = 0

    def headers(self) -> dict[str, str]:
        """HubSpot's X-HubSpot-RateLimit-* headers of a non-search answer. With no limit set
        the simulator says HubSpot's Professional figure (190 per 10 s)."""
        limit = int(self.config.general_limit_10s) or 190
        with self._lock:
            now = time.monotonic()
            used = sum(1 for at in self._admitted if at > now - self.WINDOW)
        return {
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limit - used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.WINDOW * 1000)),
        }

    def refusal(self) -> Answer:
        return _rate_limited(
            "You have reached your ten_secondly_rolling limit.",
            "TEN_SECONDLY_ROLLING",
            self.config.retry_after_seconds,
        )


class DailyLimit:
    """`daily_limit` calls a day for every call but search (0: none), until `reset()`
    (HubSpot resets at midnight in the account's time zone); refused calls do not count."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.used = 0
        self.refused = 0
        self._lock = threading.Lock()

    def admit(self) -> bool:
        limit = int(self.config.daily_limit)
        with self._lock:
            if limit > 0 and self.used >= limit:
                self.refused += 1
                return False
            self.used += 1
            return True

    def reset(self) -> None:
        with self._lock:
            self.used = 0

    def headers(self) -> dict[str, str]:
        limit = int(self.config.daily_limit)
        if limit <= 0:
            return {}
        with self._lock:
            remaining = max(0, limit - self.used)
        return {
            "X-HubSpot-RateLimit-Daily": str(limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(remaining),
        }

    def refusal(self) -> Answer:
        return _rate_limited("You have reached your daily limit.", "DAILY", 0)


def _rate_limited(message: str, policy: str, retry_after: float) -> Answer:
    answer = Answer(
        status=429,
        payload={
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        },
    )
    if retry_after > 0:
        answer.headers["Retry-After"] = f"{retry_after:g}"
    return answer
