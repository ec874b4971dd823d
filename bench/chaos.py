"""Chaos: deals checked in at HubSpot while workers are SIGKILLed, Redis restarts empty,
PostgreSQL restarts and HubSpot answers 429, 500, timeouts and cut-off JSON, and HubSpot's
users delete, restore and merge deals (some webhooks lost); then nothing may be lost,
doubled or left stuck, and every deal must be as HubSpot has it after one reconcile.

The simulator holds a share of the deals at the start (the first sync brings them) and
checks the rest in over the arrival time, each with its signed webhooks to gunicorn; two
Celery workers run the pipeline, this process plays beat (bench/chaos_system.py). When the
last deal has checked in the faults stop; the run waits (with a deadline) for the system
to drain, then checks it (bench/chaos_checks.py). The last line is

    chaos: deals=N faults=K lost=L duplicated=D stuck=S drain_s=T

and it exits 1 unless L, D and S are 0 (the target).

    .venv/bin/python bench/chaos.py [--deals 5000] [--seed 1] [--arrival-seconds 150]

Its own database (vcc_bench_chaos, recreated each run) on embedded PostgreSQL and Redis in
var/bench-chaos/, which it restarts itself; or on BENCH_DATABASE_URL / BENCH_BROKER_URL
(bench/support.py), which it cannot restart: it terminates the database's sessions and
flushes Redis instead, and says so. Logs in test-artifacts/chaos/.
"""

import argparse
import os
import sys
from datetime import UTC, datetime

from chaos_system import ChaosPlan, ChaosSystem
from support import BenchEngines, load_average


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--arrival-seconds", type=float, default=150.0)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument(
        "--fault-gap", type=float, nargs=2, default=(3.0, 8.0), help="seconds between faults"
    )
    args = parser.parse_args()

    engines = BenchEngines("chaos", database="vcc_bench_chaos")
    engines.recreate_database()
    engines.use_in_this_process()  # the simulator's manage.py reads these settings
    plan = ChaosPlan(
        deals=args.deals,
        seed=args.seed,
        arrival_seconds=args.arrival_seconds,
        drain_timeout=args.drain_timeout,
        fault_gap=tuple(args.fault_gap),
    )
    system = ChaosSystem(
        plan,
        env=engines.env,
        database_url=engines.database_url,
        broker_url=engines.broker_url,
        instance=engines.instance,
        restart_postgres=not os.environ.get("BENCH_DATABASE_URL"),
        restart_redis=not os.environ.get("BENCH_BROKER_URL"),
    )
    print(f"chaos, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, seed {args.seed}", flush=True)
    result = system.run()
    for line in result.report():
        print(f"  {line}")
    print(f"  load average at the end {load_average()} on {os.cpu_count()} cores")
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
