"""HubSpot's daily API limit, shared by every process: the stop after a `DAILY` 429, and the
calls remaining that HubSpot reports.

After a `DAILY` 429 every call fails until the account's daily limit resets (midnight in
the account's time zone, HUBSPOT_ACCOUNT_TIME_ZONE), so retrying in seconds only burns calls
and keeps every process busy for nothing. The first process refused sets a flag in Redis
saying until when; every process checks it before each request and fails at once
(`HubspotError`, category DAILY_LIMIT) until then. At most the requests already in flight
are spent after the first refusal.

`X-HubSpot-RateLimit-Daily` and `-Daily-Remaining` (sent on non-search answers, not for
OAuth apps) are recorded too, for the health endpoint.

Public API:
    quota = build_daily_quota()        # from settings: REDIS_URL, HUBSPOT_ACCOUNT_TIME_ZONE
    quota.stopped_until()              # datetime | None
    quota.stop(now=...)                # -> when calls resume
    quota.record(limit=..., remaining=...)
    quota.status()                     # DailyStatus(stopped_until, limit, remaining, at)
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import redis
from django.conf import settings

from .ratelimit import shared_redis

logger = logging.getLogger(__name__)

STOP_KEY = "hubspot:daily:stopped-until"
REMAINING_KEY = "hubspot:daily:remaining"
DAILY_LIMIT = "DAILY_LIMIT"


@dataclass(frozen=True)
class DailyStatus:
    stopped_until: datetime | None
    limit: int | None
    remaining: int | None
    at: datetime | None  # when HubSpot last said the figures


def next_reset(*, now: datetime, time_zone: str) -> datetime:
    """The next midnight in the account's time zone, in UTC."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


def limit_reached_message(until: datetime) -> str:
    return (
        "HubSpot's daily API limit is reached: calls resume at "
        f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


class DailyQuota:
    def __init__(self, *, redis_client: redis.Redis, time_zone: str = "UTC") -> None:
        self._redis = redis_client
        self.time_zone = time_zone

    def stopped_until(self, *, now: datetime | None = None) -> datetime | None:
        """When calls may resume, while the daily limit is reached; None otherwise (and
        while Redis cannot be reached: HubSpot's own 429 then stops the caller)."""
        try:
            value = self._redis.get(STOP_KEY)
        except redis.RedisError:
            return None
        if value is None:
            return None
        until = datetime.fromtimestamp(float(value), UTC)
        return until if until > (now or datetime.now(UTC)) else None

    def stop(self, *, now: datetime | None = None) -> datetime:
        now = now or datetime.now(UTC)
        until = next_reset(now=now, time_zone=self.time_zone)
        try:
            # The key expires when calls may resume, so nothing has to clear it.
            self._redis.set(STOP_KEY, f"{until.timestamp():.3f}", exat=int(until.timestamp()) + 1)
        except redis.RedisError as exc:
            logger.warning("hubspot_daily_stop_not_shared", extra={"error": type(exc).__name__})
        logger.error("hubspot_daily_limit_reached", extra={"resume_at": until.isoformat()})
        return until

    def record(self, *, limit: int | None, remaining: int) -> None:
        value = {"limit": limit, "remaining": remaining, "at": datetime.now(UTC).timestamp()}
        # A figure for the health endpoint: lost in an outage, the next answer brings it.
        with contextlib.suppress(redis.RedisError):
            self._redis.set(REMAINING_KEY, json.dumps(value), ex=2 * 24 * 3600)

    def clear(self) -> None:
        """Forget the stop and the figures (tests, and staff who know better)."""
        self._redis.delete(STOP_KEY, REMAINING_KEY)

    def status(self) -> DailyStatus:
        until = self.stopped_until()
        try:
            raw = self._redis.get(REMAINING_KEY)
        except redis.RedisError:
            raw = None
        figures = json.loads(raw) if raw else {}
        at = figures.get("at")
        return DailyStatus(
            stopped_until=until,
            limit=figures.get("limit"),
            remaining=figures.get("remaining"),
            at=datetime.fromtimestamp(at, UTC) if at else None,
        )


def build_daily_quota(*, redis_url: str | None = None) -> DailyQuota:
    return DailyQuota(
        redis_client=shared_redis(redis_url), time_zone=settings.HUBSPOT_ACCOUNT_TIME_ZONE
    )
