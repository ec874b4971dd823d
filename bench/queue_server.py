"""What the queue benchmarks (bench/queue_endpoint.py, bench/queue_tabs.py) share: their
servers (embedded in var/bench-queue/, kept between runs, or BENCH_DATABASE_URL /
BENCH_BROKER_URL), the million deals loaded once into them, and gunicorn serving them."""

import os
import signal
import socket
import subprocess
import time

import psycopg
import requests
from support import ROOT, BenchEngines

DATABASE = "vcc_bench_queue"
PORT = 8787
BASE = f"http://127.0.0.1:{PORT}"

EXTRA_ENV = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def start_engines(database: str) -> BenchEngines:
    """The queue benchmarks' servers: the embedded ones keep their files in var/bench-queue/
    after they stop, so the deals loaded once serve the next runs (Redis goes unused:
    nothing is enqueued)."""
    engines = BenchEngines("queue", database=database)
    engines.env.update(EXTRA_ENV)
    return engines


def prepare_database(engines: BenchEngines, deals: int, rebuild: bool) -> None:
    from queue_data import load, loaded

    engines.reuse_database()
    with psycopg.connect(engines.conninfo) as conn:
        if not rebuild and loaded(conn, deals):
            print(f"data: {deals:,} deals x 6 runs already loaded (--rebuild to load again)")
            return
    print(f"data: loading {deals:,} deals x 6 runs ...", flush=True)
    print(f"data: loaded in {load(engines.conninfo, deals=deals):.0f}s")


def django_setup(engines: BenchEngines):
    engines.use_in_this_process()
    import django

    django.setup()


def start_gunicorn(engines: BenchEngines, workers: int, *, reuse: bool) -> subprocess.Popen:
    """gunicorn on the benchmark's database; `reuse`: pollers share a page built for the
    same ETag (QUEUE_PAGE_REUSE_SECONDS' default), else every 200 reads and encodes it."""
    with socket.socket() as sock:  # taken: another run would answer in place of ours
        if sock.connect_ex(("127.0.0.1", PORT)) == 0:
            raise SystemExit(f"port {PORT} is in use (another queue benchmark running?)")
    log = ROOT / "var" / "bench-queue-gunicorn.log"
    log.parent.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            ROOT / ".venv/bin/gunicorn",
            "vcc.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**engines.env, **({} if reuse else {"QUEUE_PAGE_REUSE_SECONDS": "0"})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its workers
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{BASE}/healthz", timeout=5).ok:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_gunicorn(process)
    raise SystemExit(f"gunicorn did not come up on port {PORT}; see {log}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
