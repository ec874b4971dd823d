"""Shared set-up of the ingestion benchmarks (webhook_latency, import_throughput,
writeback_throughput): their own database and Redis (bench/support.py: embedded in
var/bench-ingest/, or on BENCH_DATABASE_URL / BENCH_BROKER_URL), the HubSpot simulator, and
the real processes (web server, Celery worker) they measure. The database is recreated
and Redis emptied each run; everything started here is stopped on exit.
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

from support import ROOT, BenchEngines, load_average

CLIENT_SECRET = "bench-client-secret"
LOGS = ROOT / "test-artifacts" / "bench"
EXTRA_ENV = {
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PIPELINE_DEMO_STAGE_SECONDS": "0",
    "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
    "LOG_LEVEL": "WARNING",
}


def setup_django(**env: str) -> BenchEngines:
    """Fresh database and broker, then Django set up in this process (and the same
    environment for every process started from here)."""
    engines = BenchEngines("ingest", database="vcc_bench_ingest")
    engines.env.update({**EXTRA_ENV, **env})
    engines.recreate_database()
    engines.use_in_this_process()
    import django

    django.setup()
    return engines


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
    return f"load average {load_average()} (1, 5, 15 min) on {os.cpu_count()} cores"
