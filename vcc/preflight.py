"""Start-up checks for bin/run and bin/test: each problem is one line, never a traceback.

    python -m vcc.preflight [--ports NAME=PORT ...] [--database | --server] [--redis]
    python -m vcc.preflight --wait URL --pid PID

--ports: nothing listens on them (NAME: the variable that moves one); --database:
DATABASE_URL answers, its database created when missing and the role may; --server: its
server answers (the tests make their own test_<name> database); --redis: CELERY_BROKER_URL
and REDIS_URL answer; --wait: until URL answers, or PID has exited.

Checks run in that order. The first failure is one line on stderr, and exit status 1;
what was done (a database created) is said on stdout. No password is ever shown.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql


class Problem(Exception):
    """A failed check, said in one line."""


# ------------------------------------------------------------------------------ PostgreSQL
def _connect_kwargs(dbname: str | None = None) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    django_only = {"pool", "isolation_level", "server_side_binding", "assume_role"}
    kwargs = {k: v for k, v in db.get("OPTIONS", {}).items() if k not in django_only}
    for key, setting in [
        ("user", "USER"),
        ("password", "PASSWORD"),
        ("host", "HOST"),
        ("port", "PORT"),
    ]:
        if db.get(setting):  # else libpq's default, or a `host=` socket folder in OPTIONS
            kwargs[key] = db[setting]
    kwargs["dbname"] = dbname or db["NAME"]
    kwargs.setdefault("connect_timeout", 5)
    return kwargs


def _where(kwargs: dict) -> str:
    host = str(kwargs.get("host", "localhost"))
    if host.startswith("/"):
        return f"the socket in {host}"
    return f"{host}:{kwargs.get('port', 5432)}"


def _reason(exc: Exception) -> str:
    """libpq's reason, without its 'connection to server ... failed:' preamble."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.rsplit(" failed: ", 1)[-1]
    return text.removeprefix("FATAL:").strip()


def check_database(*, create: bool = True) -> str:
    """DATABASE_URL's database answers; create it when it is missing and the role may."""
    kwargs = _connect_kwargs()
    try:
        psycopg.connect(**kwargs).close()
        return ""
    except psycopg.OperationalError as exc:
        reason = _reason(exc)
        if not (create and reason == f'database "{kwargs["dbname"]}" does not exist'):
            raise _database_problem(kwargs, reason) from None
    return _create_database(kwargs)


def check_server() -> str:
    """DATABASE_URL's server answers the role (on its maintenance database, `postgres`)."""
    kwargs = _connect_kwargs("postgres")
    try:
        psycopg.connect(**kwargs).close()
    except psycopg.OperationalError as exc:
        raise _database_problem(kwargs, _reason(exc)) from None
    return ""


def _database_problem(kwargs: dict, reason: str) -> Problem:
    where, role = _where(kwargs), kwargs.get("user", "(default)")
    if "password authentication failed" in reason or "no password supplied" in reason:
        return Problem(f"PostgreSQL at {where} refused role {role}: check the password in the URL")
    if "does not exist" in reason:
        return Problem(f"PostgreSQL at {where}: {reason}")
    return Problem(f"cannot reach PostgreSQL at {where}: {reason}")


def _create_database(kwargs: dict) -> str:
    name, where, role = kwargs["dbname"], _where(kwargs), kwargs.get("user", "(default)")
    try:
        with psycopg.connect(**{**kwargs, "dbname": "postgres"}, autocommit=True) as conn:
            may = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if not (may and may[0]):
                raise Problem(
                    f'database "{name}" does not exist on {where} and role {role} may not '
                    f'create it: have it created (CREATE DATABASE "{name}" OWNER "{role}") '
                    "or grant the role CREATEDB"
                )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        return ""  # another process made it meanwhile
    except psycopg.Error as exc:
        raise Problem(f'cannot create database "{name}" on {where}: {_reason(exc)}') from None
    return f'created the database "{name}" on {where}'


# ------------------------------------------------------------------------------ Redis
def check_redis() -> str:
    """The broker answers, and REDIS_URL too when it names another Redis."""
    from django.conf import settings

    from vcc.engines import redis_py_url

    broker = redis_py_url(settings.CELERY_BROKER_URL)
    for name, url in {"CELERY_BROKER_URL": broker, "REDIS_URL": settings.REDIS_URL}.items():
        if name == "REDIS_URL" and url == broker:
            continue
        parts = urlsplit(url)
        where = (
            f"the socket {parts.path}"
            if parts.scheme == "unix"
            else f"{parts.hostname}:{parts.port or 6379}"
        )
        try:
            redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5).ping()
        except redis.RedisError as exc:
            raise Problem(f"cannot reach Redis at {where} ({name}): {exc}") from None
    return ""


# ------------------------------------------------------------------------------ ports, web
def check_ports(ports: dict[str, int]) -> str:
    for name, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise Problem(f"cannot use port {port}: {exc.strerror}") from None
                raise Problem(
                    f"port {port} is in use (another bin/run?): stop it, or set {name} to a "
                    "free port"
                ) from None
    return ""


def wait_until_answering(url: str, *, pid: int, timeout: float) -> str:
    """Wait until `url` answers with any HTTP status; fail when `pid` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return ""
        except urllib.error.HTTPError:
            return ""  # an answer all the same
        except OSError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise Problem(f"the server for {url} exited before answering") from None
        if time.monotonic() > deadline:
            raise Problem(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcc.preflight", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("--ports", nargs="+", default=[], metavar="NAME=PORT", help="must be free on 127.0.0.1")
    add("--database", action="store_true", help="answers; created when missing and allowed")
    add("--server", action="store_true", help="DATABASE_URL's server answers")
    add("--redis", action="store_true", help="CELERY_BROKER_URL and REDIS_URL answer")
    add("--wait", metavar="URL", help="wait until URL answers (needs --pid)")
    add("--pid", type=int, help="the server process for --wait")
    add("--timeout", type=float, default=60, help="for --wait, in seconds")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")
    checks = [
        (bool(args.ports), lambda: check_ports(dict(_port(item) for item in args.ports))),
        (args.database, check_database),
        (args.server, check_server),
        (args.redis, check_redis),
        (
            bool(args.wait),
            lambda: wait_until_answering(args.wait, pid=args.pid, timeout=args.timeout),
        ),
    ]
    try:
        for wanted, check in checks:
            said = check() if wanted else ""
            if said:
                print(said)
    except Problem as exc:
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:  # settings that do not load, mostly: still one line
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


def _port(item: str) -> tuple[str, int]:
    name, _, port = item.partition("=")
    return name, int(port)


if __name__ == "__main__":
    sys.exit(main())
