"""What the operator benchmarks (bench/operator_lane.py, bench/bulk_actions.py) share on
top of bench/support.py: Django set up in this process on the benchmark's engines, a real
worker started as bin/run starts it, and the broker's queue lengths."""

import subprocess
import sys
import time

from support import ROOT, BenchEngines


def prepare(name: str, *, worker_env: dict[str, str]) -> tuple[BenchEngines, dict[str, str]]:
    """The benchmark's engines with a fresh database, Django set up in this process;
    returns them and the environment for worker processes."""
    engines = BenchEngines(name, database=f"vcc_bench_{name}")
    engines.recreate_database()
    env = {
        **engines.env,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "HUBSPOT_ACCESS_TOKEN": "bench-unused",  # the worker refuses to start without one
        "LOG_LEVEL": "WARNING",
        **worker_env,
    }
    engines.use_in_this_process()
    import os

    os.environ.update(env)
    import django

    django.setup()
    return engines, env


def start_worker(env: dict[str, str], *, concurrency: int, log_name: str) -> subprocess.Popen:
    """A real worker with no -Q (every queue, the operator lane first, as bin/run starts it),
    with the test stage module so a stage can be slowed down (TEST_STAGES)."""
    from vcc.celery import app

    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / log_name, "wb")  # noqa: SIM115 - the worker's, closed with it
    name = f"bench-{log_name.split('.')[0]}@localhost"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "vcc", "worker", "--concurrency",
         str(concurrency), "--hostname", name, "--include", "deals.tests.worker_stages",
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not app.control.ping(destination=[name], timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start; see var/{log_name}")
    return worker


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def queued(queue: str) -> int:
    """Jobs waiting in a queue of the broker."""
    from vcc.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)  # type: ignore[attr-defined]  # kombu-stubs lack it


def staff_client():
    """A Django test client signed in as staff: requests go through the whole view stack."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-operator", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client = Client()
    client.force_login(user)
    return client
