"""Faults with nothing lost: bench/chaos.py's run, bounded for CI (a few hundred deals, every
kind of fault at least once). Its own embedded PostgreSQL and Redis (var/bench-chaos-test/),
which it restarts; the suite's own servers are not touched."""

import sys

import pytest
from django.conf import settings

sys.path.insert(0, str(settings.BASE_DIR / "bench"))

from chaos_system import FAULT_KINDS, ChaosPlan, ChaosSystem
from support import BenchEngines

from vcc import engines

pytestmark = pytest.mark.chaos


@pytest.fixture
def chaos_engines(monkeypatch):
    # Always embedded: the test restarts them, which it could not do to servers named by
    # BENCH_DATABASE_URL / BENCH_BROKER_URL.
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("BENCH_BROKER_URL", raising=False)
    bench = BenchEngines("chaos-test", database="vcc_chaos_test")
    assert bench.instance is not None  # embedded: BENCH_* are unset above
    try:
        bench.recreate_database()
        yield bench
    finally:
        engines.stop(bench.instance)


def test_no_deal_is_lost_doubled_or_left_stuck_through_every_kind_of_fault(chaos_engines):
    plan = ChaosPlan(
        deals=300,
        seed=12,
        arrival_seconds=25,
        fault_gap=(1.0, 2.0),
        hubspot_fault_seconds=2.0,
        min_fault_rounds=1,
        drain_timeout=120,  # past the write-back lease (60 s) a killed pass leaves
        logs=settings.BASE_DIR / "test-artifacts" / "chaos-test",
    )
    system = ChaosSystem(
        plan,
        env=chaos_engines.env,
        database_url=chaos_engines.database_url,
        broker_url=chaos_engines.broker_url,
        instance=chaos_engines.instance,
        restart_postgres=True,
        restart_redis=True,
    )

    result = system.run()

    report = "\n".join([*result.report(), result.summary()])
    print(report)  # shown with -s
    (plan.logs / "report.txt").write_text(report + "\n")  # CI's artifacts, passed or not
    assert set(result.faults) == set(FAULT_KINDS), report
    assert result.deals == 300, report
    assert sum(result.lost.values()) == 0, report
    assert sum(result.duplicated.values()) == 0, report
    assert result.stuck_n == 0, report
