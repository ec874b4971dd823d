"""The embedded Redis: redis-server on a unix socket, daemonized, with a pid file."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from .instance import EngineError, Instance
from .system import User, last_line, process_start, redis_server, run, wait_for


# ------------------------------------------------------------------------------ Redis
def pid_of(instance: Instance) -> int | None:
    """The pid of this instance's redis-server, if it runs."""
    try:
        pid = int((instance.dir / "redis.pid").read_text())
        exe = os.readlink(f"/proc/{pid}/exe")
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid if Path(exe) == redis_server().resolve() else None


def stop(instance: Instance) -> None:
    pid = pid_of(instance)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # Redis' clean shutdown (and the AOF's last fsync)
        wait_for(lambda: process_start(pid) is None, 30, "Redis to stop", instance)
    (instance.dir / "redis.pid").unlink(missing_ok=True)


def answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(instance: Instance, user: User, *, ephemeral: bool) -> None:
    stop(instance)  # one left behind by a run that was killed
    log = instance.dir / "redis.log"
    listen = ("--port", "0", "--unixsocket", instance.redis_socket, "--unixsocketperm", "700")
    # The tests' Redis keeps nothing; bin/run's keeps its queues across restarts (AOF).
    files = ("--dir", instance.dir, "--save", "", "--appendonly", "no" if ephemeral else "yes")
    daemon = ("--daemonize", "yes", "--pidfile", instance.dir / "redis.pid", "--logfile", log)
    result = run([redis_server(), *listen, *files, *daemon], user)
    if result.returncode != 0:
        raise EngineError(f"Redis did not start: {(result.stderr or result.stdout).strip()}")

    def ready() -> bool:
        if answers(instance.redis_socket):
            return True
        if (instance.dir / "redis.pid").exists() and pid_of(instance) is None:
            raise EngineError(f"Redis did not start: {last_line(log)} (see {log})")
        return False

    wait_for(ready, 30, "Redis to answer", instance)
