"""One pipeline per deal at a time, across every worker on every machine.

A PostgreSQL session-level advisory lock keyed by the deal id. It is held by the worker's
database connection, so it is released when the pipeline ends and also when the worker
dies (SIGKILL, OOM, lost host): the kernel closes the socket and PostgreSQL drops the
lock. No lease to expire, no stale flag to clean up.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# Namespace for pg advisory locks taken by this module (the two-int form: namespace, key).
_DEAL_LOCK_NAMESPACE = 0x5643_4301


def _key(deal_id: uuid.UUID) -> int:
    # The low 32 bits of the UUID, as a signed int4; a collision only serialises two deals.
    return int.from_bytes(deal_id.bytes[-4:], "big", signed=True)


@contextmanager
def deal_lock(deal_id: uuid.UUID, *, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Try to take the deal's lock, waiting up to `wait_seconds`; yields whether it was taken.

    A short wait covers a worker that was killed a moment ago: its job is redelivered at
    once, while PostgreSQL may take a few milliseconds to notice the closed connection.
    """
    key = _key(deal_id)
    deadline = time.monotonic() + wait_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_DEAL_LOCK_NAMESPACE, key])
            (taken,) = cursor.fetchone()
        if taken or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    try:
        yield taken
    finally:
        if taken and connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_DEAL_LOCK_NAMESPACE, key])
