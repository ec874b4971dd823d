"""One embedded PostgreSQL + Redis pair and where its files live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]  # the checkout
ENGINE_USER = "vcc-engines"
DATABASE_NAME = "vcc"  # the database bin/run's DATABASE_URL names; the tests use test_vcc
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, with the closing NUL


class EngineError(Exception):
    """A failure to report as one line, without a traceback."""


@dataclass(frozen=True)
class Instance:
    """One embedded PostgreSQL + Redis pair and its files, all under var/NAME/."""

    name: str
    base_dir: Path = BASE_DIR

    @property
    def dir(self) -> Path:
        return self.base_dir / "var" / self.name

    @property
    def pgdata(self) -> Path:
        return self.dir / "postgres"

    @property
    def redis_socket(self) -> Path:
        return self.dir / "redis.sock"

    @property
    def database_url(self) -> str:
        # libpq and django-environ both read a socket folder from `host=` in the query.
        return f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(self.dir))}"

    @property
    def broker_url(self) -> str:
        return f"redis+socket://{self.redis_socket}"  # kombu's spelling of a unix socket

    @property
    def redis_url(self) -> str:
        return redis_py_url(self.broker_url)


def redis_py_url(broker_url: str) -> str:
    """redis-py's URL for a Redis broker URL: kombu says redis+socket://, redis-py unix://."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url.removeprefix("redis+socket://")
    return broker_url


# bin/run's instance, and the settings' default when no URL is set (bin/test's is "test").
DEV = Instance("dev")
