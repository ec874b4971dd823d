"""Benchmark: two beats and 1, 2, 3 worker processes on one Redis and one PostgreSQL.

The mistake real deployments make: a second `celery beat`. For W = 1, 2 and 3: a fresh
database, the HubSpot simulator with --deals deals, TWO beat processes polling HubSpot every
--poll-seconds and sweeping every 10 s (HubSpot answers after --hubspot-latency-ms, so a
sync lasts long enough for the other beat's tick to meet it), and W `celery worker`
processes of --concurrency pool processes each, every one serving every queue as bin/run
starts it (so syncs, sweeps and pipelines all compete for the same workers). The syncs bring
the deals in; the run ends when every deal is done (or at --timeout). Then, from the database:
  - no two syncs overlapped in time (sync_runs: started_at..finished_at of every run that
    ran; the ones the lock refused are `skipped`);
  - no deal had two pipeline runs overlapping in time (pipeline_runs), no stage of a deal
    ran twice, each deal has one pass;
  - each deal exists once, and every deal is done;
and deals/s from the first run's start to the last run's end (pipeline_runs).

Stages: intake sleeps --stage-seconds (TEST_STAGES=intake=slow, deals/tests/worker_stages.py)
and the five stub stages take no time, so a deal costs one sleep plus the runner's
statements. The stubs alone are a few milliseconds of CPU a deal: on this 2-core machine
the processes would just share two cores and no worker count could scale. With a sleeping
stage the work is wait-bound, as real stages calling other services are, and adding
processes adds throughput beyond the core count.

Compares in the same run and exits 1 when one is missed: 0 overlapping syncs, 0 deals with
overlapping runs, 0 repeated stages, every deal once and done, both beats alive and polling,
at least one sync skipped (else the lock was never put to the test), and throughput growing
with workers: deals/s(W) >= (1 + 0.25 (W - 1)) x deals/s(1), i.e. 1.25x with 2 workers and
1.5x with 3 (linear would be 2x and 3x; the machine is shared).

    .venv/bin/python bench/scale_workers.py [--deals 3000] [--workers 1 2 3]
        [--concurrency 2] [--stage-seconds 0.1] [--poll-seconds 5] [--hubspot-latency-ms 200]

On embedded PostgreSQL and Redis in var/bench-scale/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py). Logs: var/bench-scale-*.log.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import worker_support as bench
from support import ROOT, BenchEngines, cpu_seconds, load_average, process_tree

GROWTH_PER_WORKER = 0.25  # floor: deals/s(W) >= (1 + 0.25 (W - 1)) x deals/s(1)
SWEEP_SECONDS = 10  # both beats sweep this often...
STUCK_AFTER_SECONDS = 30  # ...for deals idle this long: well inside one round's backlog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes a worker")
    parser.add_argument("--stage-seconds", type=float, default=0.1)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument(
        "--hubspot-latency-ms",
        type=float,
        default=200.0,
        help="added to every HubSpot answer: syncs last long enough for ticks to meet",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a round")
    args = parser.parse_args()
    if 1 not in args.workers:
        parser.error("--workers must include 1: the others are compared with one worker")

    engines = BenchEngines("scale", database="vcc_bench_scale")
    engines.use_in_this_process()
    import django

    django.setup()
    from django.db import connections

    from hubspot.simulator.process import start_simulator

    rounds = {}
    for workers in args.workers:
        connections.close_all()  # the database is dropped under them
        engines.recreate_database()
        extra = ["--days", "20", "--missing-amount-share", "0"]
        with start_simulator(deals=args.deals, seed=1, extra_args=extra) as sim:
            sim.configure(latency_ms=args.hubspot_latency_ms)
            rounds[workers] = run_round(engines, sim, workers=workers, args=args)
        print_round(workers, rounds[workers], args)
    return report(rounds, args)


def run_round(engines: BenchEngines, sim, *, workers: int, args) -> dict:
    env = {
        **engines.env,
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
        "HUBSPOT_ACCESS_TOKEN": sim.token,
        "HUBSPOT_BASE_URL": sim.base_url,
        "HUBSPOT_BOOTSTRAP_DAYS": "30",
        "TEST_STAGES": "intake=slow",
        "TEST_STAGE_SECONDS": str(args.stage_seconds),
        "PIPELINE_SWEEP_INTERVAL_SECONDS": str(SWEEP_SECONDS),
        "PIPELINE_STUCK_AFTER_SECONDS": str(STUCK_AFTER_SECONDS),
    }
    beat_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "scale_beat_settings",
        "PYTHONPATH": str(ROOT / "bench"),
        "BENCH_POLL_SECONDS": str(args.poll_seconds),
        "LOG_LEVEL": "INFO",  # beat logs each task it sends: how we count its polls
    }
    procs: list[subprocess.Popen] = []
    beats: list[subprocess.Popen] = []
    try:
        # Every worker up before the first sync, so the deals meet all of them.
        for n in range(1, workers + 1):
            log = f"bench-scale-w{workers}-worker{n}.log"
            procs.append(bench.start_worker(env, concurrency=args.concurrency, log_name=log))
        # Both at once, as two replicas of a beat service start: their ticks fall close
        # together, so a tick often finds the other beat's sync in flight.
        logs = [f"bench-scale-w{workers}-beat{n}.log" for n in (1, 2)]
        beats.extend(start_beat(beat_env, log_name=log) for log in logs)
        for beat, log in zip(beats, logs, strict=True):
            wait_ticking(beat, log_name=log)
        cpu0 = cpu_seconds([pid for p in procs for pid in process_tree(p.pid)])
        busy0 = machine_busy()
        started = time.monotonic()
        deadline = started + args.timeout
        with psycopg.connect(engines.conninfo, autocommit=True) as conn:
            while (done := _count(conn, "SELECT count(*) FROM deals WHERE status = 'done'")) < (
                args.deals
            ):
                if time.monotonic() > deadline:
                    print(f"  timed out: {done} of {args.deals} deals done after {args.timeout} s")
                    break
                if any(p.poll() is not None for p in beats + procs):
                    print(f"  a beat or worker died; see var/bench-scale-w{workers}-*.log")
                    break
                time.sleep(0.5)
        wall = time.monotonic() - started
        cpu = cpu_seconds([pid for p in procs for pid in process_tree(p.pid)]) - cpu0
        busy = machine_busy() - busy0
        beats_alive = sum(b.poll() is None for b in beats)
        load = load_average()
    finally:
        for beat in beats:  # beats first: no new syncs while the workers finish theirs
            bench.stop(beat)
        for proc in procs:
            bench.stop(proc)  # warm shutdown: a sync in flight ends and records its end
    polls = [
        (ROOT / "var" / f"bench-scale-w{workers}-beat{n}.log")
        .read_text(errors="replace")
        .count("Sending due task hubspot-poll")
        for n in (1, 2)
    ]
    swept = sum(
        (ROOT / "var" / f"bench-scale-w{workers}-worker{n}.log")
        .read_text(errors="replace")
        .count("deals_swept")
        for n in range(1, workers + 1)
    )
    with psycopg.connect(engines.conninfo, autocommit=True) as conn:
        result = check(conn, deals=args.deals)
    result.update(
        wall=wall,
        cpu=cpu,
        busy=busy,
        polls=polls,
        beats_alive=beats_alive,
        swept=swept,
        load=load,
        served=sim.stats(),
    )
    return result


def start_beat(env: dict[str, str], *, log_name: str) -> subprocess.Popen:
    """A real `celery beat` (django-celery-beat's DatabaseScheduler, as bin/run starts it)."""
    with open(ROOT / "var" / log_name, "wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "vcc", "beat", "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_ticking(beat: subprocess.Popen, *, log_name: str) -> None:
    """Until the beat has installed its schedule and sent its first task."""
    deadline = time.monotonic() + 60
    while "Scheduler: Sending due task" not in (ROOT / "var" / log_name).read_text(
        errors="replace"
    ):
        if beat.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"beat did not start ticking; see var/{log_name}")
        time.sleep(0.2)


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process, other users' too)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, *rest = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    )
    return (user + nice + system + sum(rest[:3])) / ticks


def _row(conn: psycopg.Connection, sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()  # an aggregate: always one row
    assert row is not None, sql
    return row


def _count(conn: psycopg.Connection, sql: str) -> int:
    return _row(conn, sql)[0]


def check(conn: psycopg.Connection, *, deals: int) -> dict:
    """What the database says happened: overlaps, duplicates, and the run's time span."""
    ran = "status <> 'skipped' AND started_at IS NOT NULL"
    sync_overlaps, sync_overlap_max = _row(
        conn,
        f"""
        WITH runs AS (
            SELECT id, started_at, coalesce(finished_at, 'infinity') AS ended
            FROM sync_runs WHERE {ran}
        )
        SELECT count(*),
               coalesce(max(extract(epoch FROM least(a.ended, b.ended)
                                             - greatest(a.started_at, b.started_at))), 0)
        FROM runs a JOIN runs b
          ON a.id < b.id AND a.started_at < b.ended AND b.started_at < a.ended
        """,
    )
    syncs: dict[str, int] = dict(
        conn.execute("SELECT status, count(*) FROM sync_runs GROUP BY status").fetchall()
    )
    sync_seconds = _row(
        conn,
        f"SELECT coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)"
        f" FROM sync_runs WHERE {ran}",
    )[0]
    run_overlaps = _row(
        conn,
        """
        SELECT count(*), count(DISTINCT a.deal_id)
        FROM pipeline_runs a JOIN pipeline_runs b
          ON a.deal_id = b.deal_id AND a.id < b.id
         AND a.started_at < coalesce(b.ended_at, 'infinity')
         AND b.started_at < coalesce(a.ended_at, 'infinity')
        """,
    )
    repeated_stages = _count(
        conn,
        "SELECT count(*) FROM (SELECT 1 FROM pipeline_runs"
        " GROUP BY deal_id, stage HAVING count(*) > 1) AS r",
    )
    first, last, runs = _row(
        conn, "SELECT min(started_at), max(ended_at), count(*) FROM pipeline_runs"
    )
    rows, distinct, done = _row(
        conn,
        "SELECT count(*), count(DISTINCT hubspot_deal_id),"
        " count(*) FILTER (WHERE status = 'done') FROM deals",
    )
    extra_passes = _count(
        conn,
        "SELECT count(*) FROM (SELECT 1 FROM pipeline_passes"
        " GROUP BY deal_id HAVING count(*) > 1) AS p",
    )
    span = (last - first).total_seconds() if first and last else 0.0
    return {
        "sync_overlaps": sync_overlaps,
        "sync_overlap_max": float(sync_overlap_max),
        "syncs": syncs,
        "sync_seconds": float(sync_seconds),
        "run_overlaps": run_overlaps[0],
        "deals_overlapping": run_overlaps[1],
        "repeated_stages": repeated_stages,
        "runs": runs,
        "span": span,
        "rate": done / span if span else 0.0,
        "deals": deals,
        "rows": rows,
        "duplicates": rows - distinct,
        "done": done,
        "extra_passes": extra_passes,
    }


def print_round(workers: int, r: dict, args) -> None:
    ran = sum(n for status, n in r["syncs"].items() if status != "skipped")
    print(
        f"\n{workers} worker process{'es' if workers > 1 else ''} x {args.concurrency} pool "
        f"processes, two beats (load {r['load']})"
    )
    print(
        f"  throughput            {r['rate']:.1f} deals/s ({r['done']} done in {r['span']:.1f} s, "
        f"first run start to last run end; {r['wall']:.0f} s with the start)"
    )
    print(
        f"  polls sent by beats   {r['polls'][0]} + {r['polls'][1]} "
        f"({r['beats_alive']} of 2 beats alive at the end)"
    )
    print(
        f"  sync runs             {ran} ran ({r['syncs'].get('succeeded', 0)} succeeded, "
        f"{r['syncs'].get('failed', 0)} failed), {r['syncs'].get('skipped', 0)} skipped by "
        f"the lock; {r['sync_seconds']:.1f} s syncing "
        f"({r['sync_seconds'] / (r['wall'] * workers * args.concurrency):.0%} of the pool's time)"
    )
    print(
        f"  overlapping syncs     {r['sync_overlaps']} pairs"
        + (f" (longest {r['sync_overlap_max']:.3f} s)" if r["sync_overlaps"] else "")
    )
    print(
        f"  overlapping runs      {r['run_overlaps']} pairs in {r['deals_overlapping']} deals; "
        f"{r['repeated_stages']} stages run twice; {r['extra_passes']} deals with 2+ passes; "
        f"{r['runs']} runs ({r['runs'] / max(r['rows'], 1):.1f} a deal)"
    )
    print(
        f"  deals                 {r['rows']} rows for {r['deals']} in the simulator, "
        f"{r['duplicates']} duplicated, {r['done']} done; sweeper re-sends: {r['swept']}"
    )
    print(
        f"  CPU                   workers {r['cpu'] / r['wall']:.2f} cores, "
        f"whole machine {r['busy'] / r['wall']:.2f} of {os.cpu_count()}; HubSpot requests "
        f"{sum(r['served']['requests'].values())} ({r['served']['rate_limited']} refused 429)"
    )


def report(rounds: dict[int, dict], args) -> int:
    failures = []
    base = rounds[min(rounds)]["rate"] / min(rounds) if rounds else 0.0  # deals/s a worker
    bound = (
        "wait-bound, so throughput can grow past this machine's cores"
        if args.stage_seconds
        else "CPU-bound: past the machine's cores more processes only share them"
    )
    print(
        f"\nintake sleeps {args.stage_seconds} s a deal, the other stages are stubs: {bound} "
        f"({os.cpu_count()}); each worker has {args.concurrency} pool processes"
    )
    print("workers  deals/s  ratio to linear  floor (x 1 worker)  result")
    for workers, r in rounds.items():
        ratio = r["rate"] / (workers * base) if base else 0.0
        floor = 1 + GROWTH_PER_WORKER * (workers - 1)
        growth = r["rate"] / rounds[min(rounds)]["rate"] if base else 0.0
        ok = growth >= floor
        print(
            f"{workers:>7}  {r['rate']:7.1f}  {ratio:15.2f}  {floor:.2f} "
            f"(is {growth:.2f}){' ' * 6}{'ok' if ok else 'MISSED'}"
        )
        if workers != min(rounds) and not ok:
            failures.append(f"{workers} workers: {growth:.2f}x one worker, floor {floor:.2f}x")
        name = f"{workers} workers"
        if r["sync_overlaps"]:
            failures.append(f"{name}: {r['sync_overlaps']} overlapping sync pairs")
        if r["run_overlaps"]:
            failures.append(f"{name}: {r['deals_overlapping']} deals with overlapping runs")
        if r["repeated_stages"] or r["extra_passes"]:
            failures.append(f"{name}: {r['repeated_stages']} stages run twice")
        if r["duplicates"] or r["rows"] != r["deals"] or r["done"] != r["deals"]:
            failures.append(f"{name}: {r['rows']} deals stored, {r['done']} done of {r['deals']}")
        if r["beats_alive"] != 2 or min(r["polls"]) < 2:
            failures.append(f"{name}: beats alive {r['beats_alive']}, polls {r['polls']}")
        if not r["syncs"].get("skipped"):
            # Nothing proven about the lock: no two syncs ever tried to run at once.
            failures.append(f"{name}: no sync was skipped, the lock was never exercised")
    print(f"machine load {load_average()} on {os.cpu_count()} cores")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: no overlap, no duplicate, throughput grows with workers")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
