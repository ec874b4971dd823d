"""Where a benchmark's PostgreSQL and Redis are, as for bin/run and bin/test: embedded
(var/bench-NAME/, started here and stopped when the benchmark ends) unless
BENCH_DATABASE_URL / BENCH_BROKER_URL name servers to use instead. A benchmark's database
is its own and recreated each run, its Redis emptied; or, when its data takes minutes to
make (the queue benchmarks' million deals), kept between runs: the embedded instance's
files stay in var/bench-NAME/ when its servers stop.

    engines = BenchEngines("pipeline", database="vcc_bench_pipeline")
    engines.recreate_database()          # drop, create, migrate
    engines.reuse_database()             # or: create when missing, migrate, keep the rows
    subprocess.Popen([...], env=engines.env)
    psycopg.connect(engines.conninfo)
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcc import engines as embedded  # noqa: E402 - needs the checkout on sys.path


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class BenchEngines:
    def __init__(self, name: str, *, database: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):  # it goes into SQL as it is
            raise SystemExit(f"bench: {database!r} is not a plain database name")
        self.database = database
        server = os.environ.get("BENCH_DATABASE_URL", "")
        broker = os.environ.get("BENCH_BROKER_URL", "")
        self.instance: embedded.Instance | None = None
        if not (server and broker):
            self.instance = embedded.Instance(f"bench-{name}")
            try:
                embedded.start(
                    self.instance,
                    postgres=not server,
                    redis=not broker,
                    owner=os.getpid(),
                )
            except embedded.EngineError as exc:  # e.g. another run of this benchmark
                raise SystemExit(f"bench: {exc}") from None
            atexit.register(embedded.stop, self.instance)
            server = server or self.instance.database_url
            broker = broker or self.instance.broker_url
        self.database_url = _with_database(server, database)  # Django's (postgres://)
        self.conninfo = self.database_url.replace("postgres://", "postgresql://", 1)
        self.admin_conninfo = _with_database(self.conninfo, "postgres")
        self.broker_url = broker
        self.redis_url = embedded.redis_py_url(broker)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_SECRET_KEY": "bench-only",
            "DJANGO_SETTINGS_MODULE": "vcc.settings",
            "DJANGO_READ_DOT_ENV_FILE": "false",
        }

    def recreate_database(self) -> None:
        """A fresh database with every migration applied; the broker emptied."""
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.database}")
        self._migrate()
        self.flush_broker()

    def reuse_database(self) -> None:
        """The database as the last run left it (created when missing), migrations applied;
        whether its rows are the ones wanted is the benchmark's to check."""
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
            if not found:
                conn.execute(f"CREATE DATABASE {self.database}")
        self._migrate()

    def _migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True
        )

    def flush_broker(self) -> None:
        redis.Redis.from_url(self.redis_url).flushdb()

    def use_in_this_process(self) -> None:
        """Point this process's Django settings at the benchmark's servers."""
        os.environ.update(self.env)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a benchmark starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [pid] + [p for child in children for p in process_tree(int(child))]


def postgres_cpu() -> float:
    """CPU seconds of every `postgres` process on the machine."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    pids.append(int(entry))
            except OSError:
                pass
    return cpu_seconds(pids)


def scalar(conn: psycopg.Connection, query: str, params: Sequence[object] | None = None) -> Any:
    """The first column of the one row `query` returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(failures: list[str]) -> int:
    """Print each missed target, or that all were met; the benchmark's exit status."""
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: all targets met")
    return 1 if failures else 0


def bench_user(username: str = "bench", role: str = "operator"):
    """A staff account in one of the roles (deals/services/roles.py), as the benchmarks'
    requests need one: a staff account without a role is refused everything."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=role))
    return user


def bench_token() -> str:
    """An API token of the benchmarks' operator (bench_user)."""
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=bench_user())[0].key


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of `samples` (nan when there are none)."""
    if len(samples) < 2:
        return (samples[0], samples[0]) if samples else (float("nan"), float("nan"))
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]
