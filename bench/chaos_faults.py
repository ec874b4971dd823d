"""The faults of a chaos run (bench/chaos_system.py's ChaosSystem inherits them): drawn with
the plan's seed in shuffled rounds, every kind once a round, a gap between any two."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
from collections import Counter
from typing import TYPE_CHECKING

import psycopg
import redis
from support import process_tree

from vcc import engines

if TYPE_CHECKING:
    from chaos_system import ChaosPlan

    from hubspot.simulator.process import RunningSimulator

# What HubSpot does during a fault window, as simulator knobs (reset to `_CALM` after).
_HUBSPOT_FAULTS = {
    "hubspot_429": {"search_rps": 0.2, "general_limit_10s": 2},
    "hubspot_500": {"error_500_share": 0.6},
    "hubspot_timeout": {"timeout_share": 0.5},
    "hubspot_malformed": {"malformed_share": 0.6},
}
_PROCESS_FAULTS = ("kill_pool_process", "kill_worker", "restart_redis", "restart_postgres")
FAULT_KINDS: tuple[str, ...] = (*_PROCESS_FAULTS, *_HUBSPOT_FAULTS)
_CALM = {"search_rps": 5, "general_limit_10s": 0, "error_500_share": 0, "timeout_share": 0}
_CALM |= {"malformed_share": 0}


class FaultInjection:
    """The fault thread of a ChaosSystem, which sets these up."""

    plan: ChaosPlan
    rng: random.Random
    workers: list[subprocess.Popen]
    faults: Counter[str]
    notes: list[str]
    instance: engines.Instance | None
    broker_url: str
    conninfo: str
    can_restart_postgres: bool
    can_restart_redis: bool
    _killed: set[int]
    _stop: threading.Event
    _arrived: threading.Event

    def _start_worker(self) -> subprocess.Popen:
        raise NotImplementedError

    def _replace_dead_workers(self) -> None:
        raise NotImplementedError

    def _inject_faults(self, sim: RunningSimulator) -> None:
        kinds: list[str] = []
        rounds = 0
        failed: Counter[str] = Counter()
        low, high = self.plan.fault_gap
        # A gap before every fault, also in the rounds after the last deal has arrived.
        while not self._stop.wait(self.rng.uniform(low, high)):
            rounds_done = rounds if not kinds else rounds - 1
            if self._arrived.is_set() and rounds_done >= self.plan.min_fault_rounds:
                return
            if not kinds:
                kinds = list(FAULT_KINDS)
                self.rng.shuffle(kinds)
                rounds += 1
            kind = kinds.pop()
            self._replace_dead_workers()
            try:
                self._fault(kind, sim)
            except Exception as exc:  # a fault that failed is a harness problem: say so
                self.notes.append(f"fault {kind} failed: {exc!r}")
                failed[kind] += 1
                if failed[kind] < 3:
                    kinds.insert(0, kind)  # tried again later in this round
                continue
            self.faults[kind] += 1

    def _fault(self, kind: str, sim: RunningSimulator) -> None:
        if kind == "kill_pool_process":
            worker = self.rng.choice(self.workers)
            pool = process_tree(worker.pid)[1:]
            if not pool:
                raise RuntimeError("the worker has no pool process")
            os.kill(self.rng.choice(pool), signal.SIGKILL)  # its worker starts another
        elif kind == "kill_worker":
            index = self.rng.randrange(len(self.workers))
            self._killed.add(self.workers[index].pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.workers[index].pid, signal.SIGKILL)
            self.workers[index].wait(timeout=10)
            self.workers[index] = self._start_worker()
        elif kind == "restart_redis":
            if self.can_restart_redis and self.instance is not None:
                engines.restart_redis(self.instance)
            else:
                redis.Redis.from_url(engines.redis_py_url(self.broker_url)).flushdb()
        elif kind == "restart_postgres":
            if self.can_restart_postgres and self.instance is not None:
                engines.restart_postgres(self.instance)
            else:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
        else:
            sim.configure(**_HUBSPOT_FAULTS[kind])
            self._stop.wait(self.plan.hubspot_fault_seconds)
            sim.configure(**_CALM)
