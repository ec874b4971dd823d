"""Shared set-up of the ingestion benchmarks (webhook_latency, import_throughput,
writeback_throughput): a database and Redis DB of their own, the HubSpot simulator, and the
real processes (web server, Celery worker) they measure.

The database is BENCH_DATABASE (default vcc_bench_ingest on 127.0.0.1:5432; created if
missing, migrated, its tables emptied) and the broker Redis DB BENCH_REDIS_DB (default 12,
emptied). Everything started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = os.environ.get("BENCH_DATABASE", "vcc_bench_ingest")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
CLIENT_SECRET = "bench-client-secret"
LOGS = ROOT / "test-artifacts" / "bench"

ENV = {
    **os.environ,
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER,
    "DJANGO_SECRET_KEY": "bench-only",
    "DJANGO_SETTINGS_MODULE": "vcc.settings",
    "DJANGO_READ_DOT_ENV_FILE": "false",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PIPELINE_DEMO_STAGE_SECONDS": "0",
    "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
    "LOG_LEVEL": "WARNING",
}
_TABLES = (
    "deal_writebacks, pipeline_runs, deals, hubspot_webhook_events, hubspot_deal_import_items, "
    "hubspot_deal_imports, hubspot_deal_payloads, sync_runs, authtoken_token"
)


def setup_django(**env: str) -> None:
    """Reset the database and the broker, then set Django up in this process."""
    os.environ.update({**ENV, **env})
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True
    )
    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://")) as conn:
        conn.execute(f"TRUNCATE {_TABLES} CASCADE")
    redis.Redis.from_url(BROKER).flushdb()
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def process(name: str, args: list[str], **env: str) -> Iterator[subprocess.Popen]:
    """A background process of ours (its output in test-artifacts/bench/NAME.log)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{name}.log").open("wb") as log:
        child = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


@contextlib.contextmanager
def web_server(port: int) -> Iterator[str]:
    """gunicorn, as in production (2 workers, 4 threads each); yields its base URL."""
    args = [sys.executable, "-m", "gunicorn", "vcc.wsgi", "-b", f"127.0.0.1:{port}"]
    args += ["-w", "2", "--threads", "4"]
    with process("web", args):
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                return True
            return False

        wait_for(answers, timeout=60, what="the web server")
        yield url


@contextlib.contextmanager
def celery_worker(**env: str) -> Iterator[subprocess.Popen]:
    """One worker serving both queues, 2 processes, as bin/run starts it."""
    from vcc.celery import app

    args = [sys.executable, "-m", "celery", "-A", "vcc", "worker", "--concurrency", "2"]
    args += ["--hostname", "bench@localhost", "--without-mingle", "--without-gossip"]
    with process("worker", args, **env) as child:
        wait_for(
            lambda: app.control.ping(destination=["bench@localhost"], timeout=0.5),
            timeout=60,
            what="the Celery worker",
        )
        yield child


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"
