"""The embedded PostgreSQL: initdb once, then pg_ctl start and stop."""

from __future__ import annotations

import shlex
import shutil
import subprocess

from .instance import EngineError, Instance
from .system import User, last_line, pg_bin, run, write


# ------------------------------------------------------------------------------ PostgreSQL
def _pg_major() -> str:
    version = subprocess.run(
        [str(pg_bin("postgres")), "--version"], capture_output=True, text=True, check=True
    ).stdout  # "postgres (PostgreSQL) 18.6"
    return version.split()[-1].split(".")[0]


def _pg_init(instance: Instance, user: User) -> None:
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
    result = run(
        [pg_bin("initdb"), "-D", instance.pgdata, *locale.split(), *auth, "--no-sync"], user
    )
    if result.returncode != 0:
        shutil.rmtree(instance.pgdata, ignore_errors=True)
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise EngineError(f"initdb failed: {lines[-1]}")


def _pg_ctl(instance: Instance, user: User, *args: str) -> subprocess.CompletedProcess:
    return run([pg_bin("pg_ctl"), "-D", instance.pgdata, *args], user)


def stop(instance: Instance, user: User) -> None:
    if not (instance.pgdata / "postmaster.pid").exists():
        return
    if _pg_ctl(instance, user, "status").returncode == 3:  # not running (a stale pid file)
        return
    # Fast shutdown: open sessions are ended, in-flight transactions rolled back.
    result = _pg_ctl(instance, user, "stop", "-m", "fast", "-w", "-t", "60", "-s")
    if result.returncode != 0:
        raise EngineError(f"PostgreSQL did not stop: {result.stderr.strip()}")


def start(instance: Instance, user: User, *, ephemeral: bool) -> None:
    _pg_init(instance, user)
    stop(instance, user)  # one left behind by a run that was killed
    # The superuser is trusted on the socket (0700: this user and root only); other roles,
    # like a DATABASE_URL's, sign in with a password.
    write(
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
        raise EngineError(f"PostgreSQL did not start: {last_line(log)} (see {log})")
