"""Shared pieces of the operator benchmarks (bench/operator_lane.py, bench/bulk_actions.py):
a database and broker of their own, Django set up in this process, and real workers.

Each benchmark takes --database-url and --broker-url (defaults: its own database on
127.0.0.1:5432, created when missing, and a Redis DB of its own). The tables are emptied and
the broker purged at the start; the database is migrated first.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def prepare(*, database_url: str, broker_url: str, extra_env: dict[str, str]) -> dict[str, str]:
    """Create (if missing) and migrate the database, empty the deal tables, set Django up in
    this process; returns the environment for worker processes."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "DJANGO_SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "vcc.settings",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "HUBSPOT_ACCESS_TOKEN": "bench-unused",  # the worker refuses to start without one
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(psql_url(database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE deals, pipeline_passes, pipeline_runs CASCADE")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from vcc.celery import app

    app.control.purge()
    return env


def psql_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def start_worker(env: dict[str, str], *, concurrency: int, log_name: str) -> subprocess.Popen:
    """A real worker (no -Q: every queue, the operator lane first, as bin/run starts it)."""
    from vcc.celery import app

    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / log_name, "wb")  # noqa: SIM115
    name = f"bench-{os.getpid()}@localhost"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vcc",
            "worker",
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--include",
            "deals.tests.worker_stages",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while not app.control.ping(destination=[name], timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start; see var/{log_name}")
    return worker


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def queued(queue: str) -> int:
    from vcc.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)


def staff_client():
    """A Django test client signed in as staff: requests go through the real view stack."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-operator", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"
