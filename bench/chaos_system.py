"""The chaos harness that bench/chaos.py and the `chaos` test share: the whole system under
faults, then proof that nothing was lost, doubled or left stuck.

    system = ChaosSystem(plan, env=..., database_url=..., broker_url=..., instance=...,
                         restart_postgres=True, restart_redis=True)
    result = system.run()        # arrivals and faults, then the drain, then the checks
    result.summary()             # "chaos: deals=N faults=K lost=L duplicated=D stuck=S drain_s=T"

Real processes as in production: the HubSpot simulator (deals checked in over time, with
signed webhooks), gunicorn, and `plan.workers` Celery workers (one process each). This
process plays beat (the schedule's jobs through the broker, at short intervals), with no
Django of its own (the test's has another database): psycopg and a bare Celery app.

Faults are drawn with the plan's seed in shuffled rounds, every kind once a round (README,
*Reliability*, lists them). The checks are in bench/chaos_checks.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chaos_checks import ChaosResult, check_system, jobs_from_log, open_deals, outstanding, settled  # noqa: E402
from chaos_faults import _CALM, FAULT_KINDS, FaultInjection  # noqa: E402, F401 - FAULT_KINDS: the test's
from chaos_lifecycle import LifecycleEvents  # noqa: E402
from support import free_port  # noqa: E402

from hubspot.simulator.process import RunningSimulator, start_simulator  # noqa: E402
from vcc import engines  # noqa: E402

CLIENT_SECRET = "chaos-client-secret"


@dataclass
class ChaosPlan:
    deals: int = 5000
    seed: int = 1
    initial_share: float = 0.4  # in HubSpot before we start (the first sync brings them)
    arrival_seconds: float = 150.0  # the rest check in over this long (webhooks)
    fault_gap: tuple[float, float] = (3.0, 8.0)  # seconds between faults, uniform
    hubspot_fault_seconds: float = 4.0  # how long HubSpot misbehaves per fault
    # Faults go on past the arrivals until every kind has been injected this many times.
    min_fault_rounds: int = 0
    workers: int = 2
    stage_seconds: float = 0.01  # each stub stage: deals in flight long enough to be hit
    drain_timeout: float = 900.0
    # The beat schedule's jobs, every so many seconds (bin/run's beat: 60 s and more).
    sync_every: float = 10.0
    sweep_every: float = 2.0
    webhook_events_every: float = 5.0
    writeback_every: float = 2.0
    # HubSpot's users delete, restore and merge arrived deals this often (0: never); this
    # share of those webhooks is lost (bench/chaos_lifecycle.py).
    lifecycle_every: float = 0.5
    lifecycle_lose_share: float = 0.3
    reconcile_every: float = 20.0  # beat's reconcile (an hour in production)
    logs: Path = ROOT / "test-artifacts" / "chaos"
    # Recovery settings shortened for the run (production defaults are minutes).
    settings: dict[str, str] = field(
        default_factory=lambda: {
            "PIPELINE_STUCK_AFTER_SECONDS": "10",
            "PIPELINE_RETRY_BACKOFF_SECONDS": "1",
            "HUBSPOT_SYNC_LOCK_TTL_SECONDS": "20",
            "HUBSPOT_TIMEOUT_SECONDS": "5",
            "HUBSPOT_WRITEBACK_ENABLED": "true",
            "HUBSPOT_WRITEBACK_LEASE_SECONDS": "60",
            "HUBSPOT_WRITEBACK_BACKOFF_SECONDS": "1",
            "HUBSPOT_WRITEBACK_MAX_RETRIES": "100",
        }
    )


class ChaosSystem(FaultInjection):
    def __init__(
        self,
        plan: ChaosPlan,
        *,
        env: dict[str, str],
        database_url: str,
        broker_url: str,
        instance: engines.Instance | None,
        restart_postgres: bool,
        restart_redis: bool,
    ) -> None:
        self.plan = plan
        self.conninfo = database_url.replace("postgres://", "postgresql://", 1)
        self.broker_url = broker_url
        self.instance = instance
        self.can_restart_postgres = restart_postgres and instance is not None
        self.can_restart_redis = restart_redis and instance is not None
        self.rng = random.Random(plan.seed)
        self.port = free_port()
        self.env = {
            **env,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "REDIS_URL": engines.redis_py_url(broker_url),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
            "PIPELINE_DEMO_STAGE_SECONDS": str(plan.stage_seconds),
            "LOG_LEVEL": "INFO",  # the jobs sent and the sweeps are counted from the log
            **plan.settings,
        }
        self.celery = Celery("chaos-beat", broker=broker_url)
        self.celery.conf.update(
            broker_transport_options={"visibility_timeout": 3600},
            broker_connection_retry_on_startup=True,
            task_serializer="json",
            accept_content=["json"],
        )
        self.workers: list[subprocess.Popen] = []
        self._killed: set[int] = set()  # worker pids we SIGKILLed (others died on their own)
        self.faults: Counter[str] = Counter()
        self.notes: list[str] = []
        self.beat_refused: Counter[str] = Counter()
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._arrived = threading.Event()  # every deal has checked in: faults stop
        self._fault_thread: threading.Thread | None = None
        self._processes: list[subprocess.Popen] = []

    # ---------------------------------------------------------------- the run
    def run(self) -> ChaosResult:
        # Celery (and kombu's Redis channels) prefer CELERY_BROKER_URL from the environment
        # to the app's own setting; in the test's process it names the suite's broker.
        saved = os.environ.get("CELERY_BROKER_URL")
        os.environ["CELERY_BROKER_URL"] = self.broker_url
        try:
            return self._run()
        finally:
            if saved is None:
                os.environ.pop("CELERY_BROKER_URL", None)
            else:
                os.environ["CELERY_BROKER_URL"] = saved

    def _run(self) -> ChaosResult:
        self.plan.logs.mkdir(parents=True, exist_ok=True)
        for log in self.plan.logs.glob("*.log"):
            log.unlink()  # this run's only: the sweeps are counted from the workers' log
        if not self.can_restart_postgres:
            self.notes.append("PostgreSQL not restarted (external): its sessions terminated")
        if not self.can_restart_redis:
            self.notes.append("Redis not restarted (external): flushed instead")
        initial = round(self.plan.deals * self.plan.initial_share)
        hook = f"http://127.0.0.1:{self.port}/api/webhooks/hubspot/"
        extra = ["--webhook-url", hook, "--webhook-secret", CLIENT_SECRET, "--days", "1"]
        hold = float(self.plan.settings["HUBSPOT_TIMEOUT_SECONDS"]) + 2  # past the client's
        extra += ["--timeout-hold-seconds", str(hold)]
        with start_simulator(deals=initial, seed=self.plan.seed, extra_args=extra) as sim:
            self.env |= {"HUBSPOT_ACCESS_TOKEN": sim.token, "HUBSPOT_BASE_URL": sim.base_url}
            try:
                self._start_web()
                for _ in range(self.plan.workers):
                    self.workers.append(self._start_worker())
                self._wait_ready()
                return self._chaos(sim, added=self.plan.deals - initial)
            finally:
                # On any way out, the fault thread stops before the processes it could
                # start again (a worker, an engine) are stopped.
                self._stop.set()
                if self._fault_thread is not None:
                    self._fault_thread.join(timeout=60)
                self._stop_all()

    def _chaos(self, sim: RunningSimulator, *, added: int) -> ChaosResult:
        beat = threading.Thread(target=self._beat, name="beat", daemon=True)
        beat.start()
        # The fault thread steers the simulator through its own session.
        steer = RunningSimulator(base_url=sim.base_url, token=sim.token, process=sim.process)
        faults = threading.Thread(target=self._inject_faults, args=(steer,), daemon=True)
        self._fault_thread = faults
        faults.start()
        life = LifecycleEvents(
            RunningSimulator(base_url=sim.base_url, token=sim.token, process=sim.process),
            seed=self.plan.seed,
            every=self.plan.lifecycle_every,
            lose_share=self.plan.lifecycle_lose_share,
        )
        self.life = life
        if self.plan.lifecycle_every:
            threading.Thread(target=life.run, args=(self._stop, self._arrived), daemon=True).start()
        started = time.monotonic()
        try:
            self._arrivals(sim, added)
        except BaseException:
            self._stop.set()  # the fault thread ends too
            raise
        self._arrived.set()
        phases = {"arrivals": time.monotonic() - started}  # where a slow run's time went
        faults.join()
        phases["faults ended"] = time.monotonic() - started
        steer.close()
        sim.configure(**_CALM)
        self._replace_dead_workers()
        calm_at = time.monotonic()
        deadline = calm_at + self.plan.drain_timeout
        expected = sim.stats()["deals"]
        backlog = open_deals(self.conninfo, expected=expected)
        waiting_on: list[tuple[float, str]] = []  # what the drain waited for, when
        while todo := outstanding(self.conninfo, expected=expected):
            if not waiting_on or waiting_on[-1][1] != todo:
                waiting_on.append((time.monotonic() - calm_at, todo))
            if time.monotonic() > deadline:
                self.notes.append(f"not settled {self.plan.drain_timeout:.0f} s after the faults")
                break
            self.loads.append(os.getloadavg()[0])
            self._replace_dead_workers()
            time.sleep(1.0)
        drain_s = time.monotonic() - calm_at
        phases["drained"] = time.monotonic() - started
        if self.plan.lifecycle_every:  # what lost webhooks did not say, one reconcile finds
            self._reconcile_and_drain(expected, deadline=time.monotonic() + 300)
            phases["reconciled"] = time.monotonic() - started
        self._stop.set()
        beat.join(timeout=30)
        # A sync the last tick started may still be running: the checks wait for it.
        quiet = time.monotonic() + 60
        while not settled(self.conninfo, expected=expected) and time.monotonic() < quiet:
            time.sleep(0.5)
        phases["settled"] = time.monotonic() - started
        result = check_system(
            self.conninfo,
            sim=sim,
            faults=self.faults,
            notes=self.notes,
            drain_seconds=drain_s,
            chaos_seconds=calm_at - started,
            max_load=max(self.loads, default=os.getloadavg()[0]),
            lease_seconds=float(self.plan.settings["HUBSPOT_WRITEBACK_LEASE_SECONDS"]),
            lifecycle=dict(life.done),
        )
        result.deals = self.plan.deals  # checked in; some since deleted or merged away
        result.info["deals not ended when the faults stopped"] = backlog
        if waiting_on:  # the last things the drain waited for, and from when
            result.info["drain waited last on"] = "; ".join(
                f"{todo} (at {at:.0f} s)" for at, todo in waiting_on[-3:]
            )
        result.info |= jobs_from_log(self.plan.logs / "workers.log")
        result.info["beat sends refused"] = dict(self.beat_refused) or 0
        result.info["phases ended at (s)"] = {k: round(v, 1) for k, v in phases.items()}
        return result

    def _arrivals(self, sim: RunningSimulator, count: int) -> None:
        """`count` deals checked in at an even pace over plan.arrival_seconds."""
        started = time.monotonic()
        sent = 0
        while sent < count:
            due = min(count, int(count * (time.monotonic() - started) / self.plan.arrival_seconds))
            if due > sent:
                self.life.arrived.extend(sim.add_deals(count=due - sent))
                sent = due
            self.loads.append(os.getloadavg()[0])
            time.sleep(0.25)

    def _reconcile_and_drain(self, expected: int, *, deadline: float) -> None:
        args = [sys.executable, "manage.py", "reconcile_hubspot"]
        try:
            done = subprocess.run(
                args, cwd=ROOT, env=self.env, capture_output=True, text=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )  # fmt: skip
            self.notes.append((done.stdout or done.stderr).strip())
        except subprocess.TimeoutExpired:
            self.notes.append("the reconcile did not finish in its time")
        while outstanding(self.conninfo, expected=expected) and time.monotonic() < deadline:
            self._replace_dead_workers()
            time.sleep(1.0)

    # ---------------------------------------------------------------- beat
    def _beat(self) -> None:
        """Beat's schedule (CELERY_BEAT_SCHEDULE, vcc/settings/) at the plan's intervals;
        a send the broker refuses is skipped, as beat's own would be."""
        schedule = [
            ("hubspot.tasks.poll_hubspot", self.plan.sync_every),
            ("deals.tasks.sweep_stuck_deals", self.plan.sweep_every),
            ("hubspot.tasks.process_webhook_events", self.plan.webhook_events_every),
            ("hubspot.tasks.writeback_outcomes", self.plan.writeback_every),
            ("hubspot.tasks.reconcile_hubspot", self.plan.reconcile_every),
        ]
        due = {name: time.monotonic() for name, _ in schedule}
        while not self._stop.wait(0.2):
            for name, every in schedule:
                if time.monotonic() >= due[name]:
                    due[name] = time.monotonic() + every
                    try:
                        self.celery.send_task(name, queue="control", expires=every)
                    except Exception as exc:  # the broker is away: skipped, as beat's own
                        self.beat_refused[type(exc).__name__] += 1

    # ---------------------------------------------------------------- processes
    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.plan.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()  # the child has its own copy
        self._processes.append(process)
        return process

    def _start_web(self) -> None:
        args = [sys.executable, "-m", "gunicorn", "vcc.wsgi", "-b", f"127.0.0.1:{self.port}"]
        self._spawn("web", [*args, "-w", "2", "--threads", "4"])

    def _start_worker(self) -> subprocess.Popen:
        if self._stop.is_set():  # stopping: nothing new may outlive the run
            raise RuntimeError("the chaos run is stopping")
        name = f"chaos-{uuid.uuid4().hex[:6]}@localhost"
        args = [sys.executable, "-m", "celery", "-A", "vcc", "worker", "--concurrency", "1"]
        args += ["--hostname", name, "--without-mingle", "--without-gossip"]
        return self._spawn("workers", [*args, "--loglevel", "INFO"])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120

        def web_answers() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return True
            return False

        while not (web_answers() and self._workers_answer()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"web or workers did not start; see {self.plan.logs}")
            time.sleep(0.2)

    def _workers_answer(self) -> bool:
        replies = self.celery.control.ping(timeout=1.0) or []
        return len(replies) >= len(self.workers)

    def _replace_dead_workers(self) -> None:
        """Start again a worker that exited on its own (noted: that is a finding)."""
        for index, worker in enumerate(self.workers):
            if worker.poll() is not None:
                if worker.pid not in self._killed:
                    self.notes.append(f"a worker exited on its own (code {worker.returncode})")
                self.workers[index] = self._start_worker()

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
