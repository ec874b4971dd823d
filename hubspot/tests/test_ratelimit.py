"""The shared search rate limiter, against the real Redis the tests run on."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from hubspot.ratelimit import LocalRateLimiter, RedisRateLimiter, build_search_rate_limiter

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_url() -> str:
    return settings.REDIS_URL


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key(redis_client):
    name = f"test:hubspot:ratelimit:{uuid.uuid4()}"
    yield name
    redis_client.delete(name)


def assert_spaced(slots_us: list[int], *, rate: float) -> None:
    """The slots reserved through a shared key, on Redis's one clock: any two are at least
    an interval apart (a limiter that lets two sends through together fails this)."""
    interval_us = 1_000_000 / rate
    ordered = sorted(slots_us)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert min(gaps) >= interval_us - 1, f"two slots {min(gaps)} us apart"


def test_the_local_limiter_spaces_requests_by_the_interval():
    now = [100.0]
    limiter = LocalRateLimiter(rate=4, clock=lambda: now[0])

    waits = [limiter.acquire() for _ in range(4)]
    now[0] += 10.0
    after_idle = limiter.acquire()

    assert waits == [0.0, 0.25, 0.5, 0.75]
    assert after_idle == 0.0


def test_the_local_limiter_allows_a_burst_then_spaces():
    now = [0.0]
    limiter = LocalRateLimiter(rate=2, burst=3, clock=lambda: now[0])

    waits = [limiter.acquire() for _ in range(5)]

    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (5, 0)])
def test_bad_rates_are_refused(rate, burst):
    with pytest.raises(ValueError):
        LocalRateLimiter(rate=rate, burst=burst)


def test_the_redis_limiter_reserves_consecutive_slots(redis_client, key):
    # One slot per 100 s: the calls below take far less, so each slot follows the last.
    limiter = RedisRateLimiter(redis_client=redis_client, key=key, rate=0.01)

    reserved = [limiter.reserve() for _ in range(3)]

    waits = [wait for wait, _ in reserved]
    slots = [slot for _, slot in reserved if slot is not None]  # None only without Redis
    assert waits[0] == 0.0 and 0 < waits[1] < waits[2] <= 200
    assert [slot - slots[0] for slot in slots] == [0, 100_000_000, 200_000_000]
    assert redis_client.pttl(key) > 0  # the key cleans itself up


def test_two_limiters_sharing_a_key_in_two_threads_never_exceed_the_rate(redis_url, key):
    rate, per_thread = 10.0, 10
    slots: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = redis.Redis.from_url(redis_url)
        limiter = RedisRateLimiter(redis_client=client, key=key, rate=rate)
        for _ in range(per_thread):
            _, slot = limiter.reserve()
            assert slot is not None  # Redis answered
            with lock:
                slots.append(slot)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(slots) == 2 * per_thread
    assert_spaced(slots, rate=rate)


_WORKER = """
import json, sys
import redis
from hubspot.ratelimit import RedisRateLimiter
url, key, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
limiter = RedisRateLimiter(redis_client=redis.Redis.from_url(url), key=key, rate=rate)
print(json.dumps([limiter.reserve()[1] for _ in range(count)]))
"""


def test_two_processes_sharing_a_key_never_exceed_the_rate(redis_url, key):
    rate, per_process = 10.0, 10
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, key, str(rate), str(per_process)],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    slots: list[int] = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        slots += json.loads(out)

    assert len(slots) == 2 * per_process
    assert_spaced(slots, rate=rate)


def test_an_unreachable_redis_falls_back_to_spacing_in_process(caplog):
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(redis_client=dead, key="unused", rate=0.01)

    with caplog.at_level(logging.WARNING, logger="hubspot.ratelimit"):
        waits = [limiter.acquire() for _ in range(3)]

    # One slot per 100 s, in process: the calls take far less, so each waits for the next.
    assert waits[0] == 0.0
    assert 0 < waits[1] <= 100 < waits[2] <= 200
    assert repr(limiter).startswith("RedisRateLimiter(")
    warnings = [
        r for r in caplog.records if r.getMessage() == "hubspot_rate_limiter_redis_unavailable"
    ]
    assert len(warnings) == 1


def test_with_redis_the_limiter_is_shared_at_the_settings_rate(settings, redis_url):
    settings.HUBSPOT_SEARCH_RPS = 4.0
    settings.REDIS_URL = redis_url

    limiter = build_search_rate_limiter(key=f"test:hubspot:ratelimit:{uuid.uuid4()}")

    assert isinstance(limiter, RedisRateLimiter)
    assert limiter.rate == 4.0
    assert limiter.acquire() == 0.0
