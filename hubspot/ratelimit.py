"""HubSpot's rate limits, shared by every process that calls HubSpot.

HubSpot's limits are per *account*, so every worker, beat and web process draws from one
budget per limit: search (about 5 requests a second) and the general limit for every other
call (100 or 190 per rolling 10 s: HUBSPOT_GENERAL_RPS_10S to start with and as a ceiling,
then what HubSpot's answers say, `follow`), which batch reads (webhooks, imports) and
write-back share. The budget lives in Redis as one key holding a
"theoretical arrival time" (GCRA): an atomic Lua script reads Redis' own clock (`TIME`, so
all machines share one clock), reserves the next free slot and says how long to wait for it.
Callers never spin or retry against the limiter: they sleep the returned time and send.

Public API:
    limiter = build_search_rate_limiter()          # from settings: REDIS_URL
    limiter = build_general_rate_limiter()         # the same, for every call but search
    wait = limiter.acquire()                       # seconds to sleep before the request
    RedisRateLimiter(redis_client=..., key=..., rate=4.0, burst=1)
    LocalRateLimiter(rate=4.0, burst=1)

`rate` is requests per second; `burst` how many may go at once after an idle spell (1: every
request is spaced by 1/rate, the safest against HubSpot's per-second window).

There is always a Redis (the broker's, unless REDIS_URL names another); while it cannot be
reached, each process spaces its own requests (RedisRateLimiter's fallback).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_KEY = "hubspot:ratelimit:search"
GENERAL_KEY = "hubspot:ratelimit:general"

# KEYS[1]: the key holding the theoretical arrival time (TAT), in microseconds since the epoch.
# ARGV[1]: emission interval (1/rate) in microseconds; ARGV[2]: burst tolerance in microseconds.
# Returns the wait in microseconds before the caller may send (0: at once).
# A request may go at max(now, TAT - tolerance); the TAT then moves one interval on. Numbers
# are formatted with %.0f because Lua would print large numbers in exponent form.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat - tolerance
if start < now then start = now end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {string.format('%.0f', start - now), string.format('%.0f', start)}
"""


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Reserve the next slot; return the seconds to wait before using it."""
        ...


def _check_rate(rate: float, burst: int) -> None:
    if rate <= 0:
        raise ValueError("rate must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class LocalRateLimiter:
    """The same GCRA in one process (threads share it); the fallback while Redis is down."""

    def __init__(
        self, *, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_rate(rate, burst)
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._tat = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            start = max(now, tat - self._tolerance)
            self._tat = tat + self._interval
            return start - now

    def __repr__(self) -> str:
        return f"LocalRateLimiter(rate={self.rate}, burst={self.burst})"


class RedisRateLimiter:
    """GCRA in Redis, shared by every process using the same key.

    If Redis cannot be reached, requests are spaced by an in-process limiter at the same rate
    for `outage_seconds` before Redis is tried again (a warning is logged once per outage):
    the sync keeps going, and HubSpot's own 429s, which the client backs off from, stay the
    last line of defence. Give it a client without retries (as `build_search_rate_limiter`
    does), or each call during an outage waits for redis-py's retries first.
    """

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        key: str = DEFAULT_KEY,
        rate: float,
        burst: int = 1,
        outage_seconds: float = 10.0,
    ) -> None:
        _check_rate(rate, burst)
        self.key = key
        self.ceiling = rate
        self.burst = burst
        self._set_rate(rate)
        self._redis = redis_client
        self._script = redis_client.register_script(_GCRA_SCRIPT)
        self._outage_seconds = outage_seconds
        self._redis_down = False
        self._retry_redis_at = 0.0

    def acquire(self) -> float:
        wait, _ = self.reserve()
        return wait

    def reserve(self) -> tuple[float, int | None]:
        """Reserve the next slot: (seconds to wait, the slot's time in microseconds on
        Redis's clock, or None while Redis is away). Every process reads one clock, so the
        slots can be checked exactly, however slow the callers are."""
        if self._redis_down and time.monotonic() < self._retry_redis_at:
            return self._fallback.acquire(), None
        try:
            wait_us, slot_us = self._script(keys=[self.key], args=self._args)
        except redis.RedisError as exc:
            self._retry_redis_at = time.monotonic() + self._outage_seconds
            if not self._redis_down:
                self._redis_down = True
                logger.warning(
                    "hubspot_rate_limiter_redis_unavailable",
                    extra={"key": self.key, "error": type(exc).__name__},
                )
            return self._fallback.acquire(), None
        if self._redis_down:
            self._redis_down = False
            logger.info("hubspot_rate_limiter_redis_back", extra={"key": self.key})
        return int(wait_us) / 1_000_000, int(slot_us)

    def follow(self, *, limit: int, interval_ms: int) -> None:
        """Follow the account's limit as HubSpot's answers state it (X-HubSpot-RateLimit-Max
        per -Interval-Milliseconds), never above the configured rate (the ceiling)."""
        rate = min(self.ceiling, limit * 1000 / interval_ms)
        if rate > 0 and abs(rate - self.rate) > 1e-9:
            logger.info(
                "hubspot_rate_limit_followed",
                extra={"key": self.key, "rate": rate, "previous_rate": self.rate},
            )
            self._set_rate(rate)

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        interval_us = 1_000_000 / rate
        self._args = [f"{interval_us:.0f}", f"{(self.burst - 1) * interval_us:.0f}"]
        self._fallback = LocalRateLimiter(rate=rate, burst=self.burst)

    def __repr__(self) -> str:
        return f"RedisRateLimiter(key={self.key!r}, rate={self.rate}, burst={self.burst})"


def build_search_rate_limiter(
    *,
    rate: float | None = None,
    burst: int = 1,
    redis_url: str | None = None,
    key: str = DEFAULT_KEY,
) -> RedisRateLimiter:
    """The limiter for HubSpot search calls, from settings unless told otherwise."""
    rate = settings.HUBSPOT_SEARCH_RPS if rate is None else rate
    return _build(rate=rate, burst=burst, redis_url=redis_url, key=key)


def build_general_rate_limiter(
    *, per_10s: int | None = None, redis_url: str | None = None, key: str = GENERAL_KEY
) -> RedisRateLimiter:
    """The limiter for every other HubSpot call (batch read, batch update, get), from
    settings unless told otherwise. HubSpot counts per rolling 10 s; requests are spaced
    evenly at that rate (no burst), so no 10 s window ever holds more than the limit + 1."""
    per_10s = settings.HUBSPOT_GENERAL_RPS_10S if per_10s is None else per_10s
    return _build(rate=per_10s / 10, burst=1, redis_url=redis_url, key=key)


def shared_redis(redis_url: str | None = None) -> redis.Redis:
    """The Redis HubSpot's shared limits live in (the limiters, the daily stop): short
    timeouts and no retries, so an outage never stalls a HubSpot call (each falls back).
    One client per process and URL: a new one per call opened a connection per request
    (bench/queue_tabs.py)."""
    return _redis_client(settings.REDIS_URL if redis_url is None else redis_url)


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    # Thread-safe, and its pool starts afresh in a forked worker; a connection Redis closed
    # (a restart) fails one call, which falls back, and is opened again on the next.
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
    )


def _build(*, rate: float, burst: int, redis_url: str | None, key: str) -> RedisRateLimiter:
    return RedisRateLimiter(
        # While Redis is away the limiter spaces requests in-process instead.
        redis_client=shared_redis(redis_url),
        key=key,
        rate=rate,
        burst=burst,
    )
