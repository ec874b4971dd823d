"""The shared search rate limiter, against the real Redis the tests run on."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
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


def assert_spaced(samples: list[tuple[float, float, float]], *, rate: float) -> None:
    """Check the slots reserved through a shared key against the rate.

    Each sample is (clock before acquire, wait, clock after acquire): Redis reserved the slot
    at its clock (the same system clock) somewhere in between, plus the wait. Samples whose
    call was slow (the worker was descheduled) bracket the slot too loosely and are left
    out, which only makes the remaining slots sparser. Among the rest, any two slots k
    apart must be at least k intervals apart, measured generously (latest end to earliest
    start): a limiter that lets two sends through together fails this.
    """
    precise = sorted(
        (before + wait, after + wait) for before, wait, after in samples if after - before < 0.005
    )
    assert len(precise) >= len(samples) // 2, "too few precise samples to judge"
    interval = 1 / rate
    for i, (earliest, _) in enumerate(precise):
        for k in (1, int(rate)):
            if i + k < len(precise):
                latest = precise[i + k][1]
                assert latest - earliest >= k * interval, (
                    f"{k + 1} slots within {latest - earliest:.3f}s"
                )


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
    limiter = RedisRateLimiter(redis_client=redis_client, key=key, rate=10)

    started = time.monotonic()
    waits, elapsed = [], []
    for _ in range(3):
        waits.append(limiter.acquire())
        elapsed.append(time.monotonic() - started)

    # Slot n is n intervals after the first; the wait is that, less the time that passed
    # between the calls (however long a loaded machine made it), so the bounds come from
    # the clock, not a fixed tolerance.
    assert waits[0] == 0.0
    for n in (1, 2):
        assert n * 0.1 - elapsed[n] - 0.001 <= waits[n] <= n * 0.1
    assert 0 < redis_client.pttl(key) <= 1000 + 300  # the key cleans itself up


def test_two_limiters_sharing_a_key_in_two_threads_never_exceed_the_rate(redis_url, key):
    rate, per_thread = 10.0, 10
    sends: list[tuple[float, float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = redis.Redis.from_url(redis_url)
        limiter = RedisRateLimiter(redis_client=client, key=key, rate=rate)
        for _ in range(per_thread):
            before = time.time()
            wait = limiter.acquire()
            sample = (before, wait, time.time())
            time.sleep(wait)
            with lock:
                sends.append(sample)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(sends) == 2 * per_thread
    assert_spaced(sends, rate=rate)


_WORKER = """
import json, sys, time
import redis
from hubspot.ratelimit import RedisRateLimiter
url, key, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
limiter = RedisRateLimiter(redis_client=redis.Redis.from_url(url), key=key, rate=rate)
sends = []
for _ in range(count):
    before = time.time()
    wait = limiter.acquire()
    sends.append((before, wait, time.time()))
    time.sleep(wait)
print(json.dumps(sends))
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
    sends: list[tuple[float, float, float]] = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        sends += [tuple(sample) for sample in json.loads(out)]

    assert len(sends) == 2 * per_process
    assert_spaced(sends, rate=rate)


def test_an_unreachable_redis_falls_back_to_spacing_in_process(caplog):
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(redis_client=dead, key="unused", rate=4)

    with caplog.at_level(logging.WARNING, logger="hubspot.ratelimit"):
        waits = [limiter.acquire() for _ in range(3)]

    assert waits[0] == 0.0
    assert 0.2 <= waits[1] <= 0.25 and 0.45 <= waits[2] <= 0.5
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
