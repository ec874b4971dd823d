"""HubSpot requests and 429s by endpoint kind, counted in Redis for the metrics: shared by
every process and kept across their restarts (a Redis restarted empty starts them again
from zero, which Prometheus reads as a counter reset). Counting never fails a request."""

from __future__ import annotations

import contextlib

import redis

from .ratelimit import shared_redis

KEY = "metrics:hubspot:requests"
KINDS = ("search", "batch_read", "batch_update", "get", "other")


def endpoint_kind(method: str, path: str) -> str:
    if path.endswith("/search"):
        return "search"
    if path.endswith("/batch/read"):
        return "batch_read"
    if path.endswith("/batch/update"):
        return "batch_update"
    return "get" if method.upper() == "GET" else "other"


class RequestCounts:
    def __init__(self, *, redis_client: redis.Redis) -> None:
        self._redis = redis_client

    def record(self, *, kind: str, rate_limited: bool) -> None:
        with contextlib.suppress(redis.RedisError), self._redis.pipeline() as pipe:
            pipe.hincrby(KEY, f"{kind}:requests", 1)
            if rate_limited:
                pipe.hincrby(KEY, f"{kind}:rate_limited", 1)
            pipe.execute()

    def totals(self) -> dict[tuple[str, str], int]:
        """(kind, "requests" | "rate_limited") -> count; empty while Redis is away."""
        try:
            raw = self._redis.hgetall(KEY)
        except redis.RedisError:
            return {}
        out: dict[tuple[str, str], int] = {}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            kind, _, what = name.partition(":")
            out[(kind, what)] = int(value)
        return out


def build_request_counts(*, redis_url: str | None = None) -> RequestCounts:
    return RequestCounts(redis_client=shared_redis(redis_url))
