"""Test support shared by every app: waiting on conditions, real Celery worker processes.

Tests never sleep and hope: they wait for a condition with a deadline and fail with a
message saying what they were waiting for.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

from vcc.celery import app as celery_app

T = TypeVar("T")
BASE_DIR = Path(settings.BASE_DIR)


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll `condition` until it returns something truthy; return that, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def wait_while_progressing(
    condition: Callable[[], T],
    *,
    progress: Callable[[], object],
    idle_timeout: float = 60.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Like wait_until, but the deadline is counted from the last change of `progress()`:
    a loaded machine that is slow but moving passes; a system stuck for `idle_timeout`
    fails. For waits through several slow steps (each worker restart, say)."""
    last = progress()
    deadline = time.monotonic() + idle_timeout
    while True:
        result = condition()
        if result:
            return result
        now = progress()
        if now != last:
            last, deadline = now, time.monotonic() + idle_timeout
        elif time.monotonic() > deadline:
            raise AssertionError(
                f"no progress for {idle_timeout}s (last: {last!r}) waiting for {what or condition}"
            )
        time.sleep(interval)


def run_in_threads(
    work: Callable[[list], None], parts: list[list], *, timeout: float = 120
) -> None:
    """Run `work(part)` for each part in a thread of its own, all released at once (a
    barrier), each on its own database connection; re-raises the first exception any of
    them raised, and fails when one has not ended within `timeout`."""
    import threading

    from django.db import connections

    errors: list[BaseException] = []
    start = threading.Barrier(len(parts))

    def run(part: list) -> None:
        try:
            start.wait()
            work(part)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    assert not any(thread.is_alive() for thread in threads), "a thread did not end"


def subprocess_database_url() -> str:
    """DATABASE_URL naming the database the tests run against (pytest-django's test_<name>),
    for processes the tests start: the same server, role, password and options."""
    url = urlsplit(settings.DATABASE_URL)
    return urlunsplit(url._replace(path=f"/{quote(connection.settings_dict['NAME'])}"))


class CeleryWorker:
    """A real `celery worker` process against the test database and the test broker."""

    def __init__(
        self,
        *,
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        include: str = "",
        queues: str = "",
    ) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vcc",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            self.name,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        if include:
            args += ["--include", include]
        if queues:
            args += ["--queues", queues]
        self.log_path = BASE_DIR / "test-artifacts" / f"worker-{self.name.split('@')[0]}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        full_env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            **(env or {}),
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._answers_ping, timeout=60, interval=0.2, what=f"worker {self.name}")

    def _answers_ping(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited early; see {self.log_path}")
        return bool(celery_app.control.ping(destination=[self.name], timeout=0.5))

    def pool_pids(self) -> list[int]:
        """The prefork pool's child processes (where tasks run)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_everything(self) -> None:
        """SIGKILL the worker and its pool at once, as a lost host would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def role_user(username: str, role: str, *, password: str | None = None, **fields):
    """A staff account in one of the roles (viewer, operator, admin: deals/services/roles.py)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        username, password=password, is_staff=True, **fields
    )
    user.groups.add(Group.objects.get(name=role))
    return user
