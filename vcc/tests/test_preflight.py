"""Start-up problems are one line each, saying what to do; a missing database is created
when the role may (vcc/preflight.py, as bin/run calls it)."""

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from vcc.preflight import check_ports


def _preflight(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vcc.preflight", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _url(*, user: str = "", password: str = "", dbname: str = "", netloc: str = "") -> str:
    """The tests' DATABASE_URL with another role, password, database or host."""
    url = urlsplit(settings.DATABASE_URL)
    host = url.netloc.rsplit("@", 1)[-1]
    auth = quote(user or url.username or "postgres") + (f":{quote(password)}" if password else "")
    return urlunsplit(
        url._replace(netloc=f"{auth}@{netloc or host}", path=f"/{dbname or 'postgres'}")
    )


def _admin() -> psycopg.Connection:
    return psycopg.connect(_url(), autocommit=True)


@pytest.fixture
def role() -> Iterator[str]:
    """A role that signs in with the password "right" and may not create databases."""
    name = f"preflight_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'right' NOCREATEDB")
    yield name
    with _admin() as conn:
        conn.execute(f"DROP ROLE {name}")


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_missing_database_is_created_when_the_role_may():
    name = f"preflight_{uuid.uuid4().hex[:8]}"
    try:
        result = _preflight("--database", DATABASE_URL=_url(dbname=name))
        again = _preflight("--database", DATABASE_URL=_url(dbname=name))
    finally:
        with _admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f'created the database "{name}" on ')
    assert (again.returncode, again.stdout) == (0, "")


def test_a_missing_database_the_role_may_not_create_says_what_to_do(role):
    result = _preflight("--database", DATABASE_URL=_url(user=role, password="right", dbname="nope"))

    line = _one_line(result)
    assert 'database "nope" does not exist on ' in line
    assert f'may not create it: have it created (CREATE DATABASE "nope" OWNER "{role}")' in line


def test_a_wrong_password_is_one_line_that_does_not_show_it(role):
    try:
        psycopg.connect(
            _url(user=role, password="wrong").replace("postgres", "postgresql", 1)
        ).close()
        pytest.skip("this server trusts every role: there is no password to get wrong")
    except psycopg.OperationalError:
        pass

    line = _one_line(_preflight("--database", DATABASE_URL=_url(user=role, password="wrong")))

    assert f"refused role {role}: check the password in the URL" in line
    assert "wrong" not in line


def test_a_host_that_does_not_exist_is_one_line():
    line = _one_line(
        _preflight("--database", DATABASE_URL="postgres://vcc:secret@no-such-host.invalid:5432/vcc")
    )
    assert line.startswith("cannot reach PostgreSQL at no-such-host.invalid:5432: ")
    assert "secret" not in line


def test_a_server_that_is_not_listening_is_one_line(free_port):
    line = _one_line(
        _preflight("--database", DATABASE_URL=f"postgres://vcc@127.0.0.1:{free_port}/vcc")
    )
    assert line == f"cannot reach PostgreSQL at 127.0.0.1:{free_port}: Connection refused"


def test_a_redis_that_is_not_listening_is_one_line(free_port):
    line = _one_line(
        _preflight("--redis", CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port}/0", REDIS_URL="")
    )
    assert line.startswith(f"cannot reach Redis at 127.0.0.1:{free_port} (CELERY_BROKER_URL): ")


def test_settings_that_do_not_load_are_one_line():
    line = _one_line(_preflight("--database", DATABASE_URL="http://127.0.0.1/db"))
    assert (
        line
        == "ImproperlyConfigured: DATABASE_URL must name a PostgreSQL database (postgres://...)."
    )


def test_a_busy_port_names_the_variable_that_moves_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        line = _one_line(_preflight("--ports", f"PORT={port}"))

    assert line == f"port {port} is in use (another bin/run?): stop it, or set PORT to a free port"
    assert check_ports({"PORT": port}) == ""  # free again


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
