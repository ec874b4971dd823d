"""The steady-state part of bench/sync_throughput.py: what a poll costs once the first sync
is done, with 10,000 deals checked in over the last 2 days.

- quiet: five polls with nothing changed in HubSpot (target: at most 2 searches each);
- busy: five polls at 10,000 check-ins a day, each after 5 minutes' worth of HubSpot changes
  (35 new deals and 35 deals written back);
- before: the lookback re-read (`sync_hubspot --reread`), which is what every poll did
  before polls read changes (hs_lastmodifieddate).

HubSpot requests a day at 10,000 check-ins a day then follow: 288 polls, plus the write-back
(100 outcomes a batch update) and the webhook reads (about one batch read a deal when events
come one by one; the simulator's figure is not measured here).
"""

from collections.abc import Callable

POLLS_A_DAY = 24 * 60 // 5
CHECK_INS_A_DAY = 10_000
PER_POLL = round(CHECK_INS_A_DAY / POLLS_A_DAY)  # 35
CHECKED_IN = "checked_in_at"


def steady_state(engines, run_sync: Callable[..., dict], *, client_rps: float) -> list[str]:
    from hubspot.simulator.process import start_simulator

    failures: list[str] = []
    extra = ["--search-rps", "5", "--days", "2", "--missing-amount-share", "0"]
    with start_simulator(deals=10_000, seed=7, extra_args=extra, startup_timeout=180) as sim:
        first = run_sync(sim, client_rps)
        quiet = [_searches(sim, run_sync, client_rps) for _ in range(5)]
        busy = []
        for _ in range(5):
            ids = sim.add_deals(count=PER_POLL)
            _write_back(sim, ids)
            busy.append(_searches(sim, run_sync, client_rps))
        before = _searches(sim, run_sync, client_rps, "--reread")

    writeback = CHECK_INS_A_DAY // 100
    webhook_reads = CHECK_INS_A_DAY
    per_day_before = POLLS_A_DAY * before + writeback + webhook_reads
    per_day_after = POLLS_A_DAY * max(busy) + writeback + webhook_reads
    print("\nsteady state, 10,000 deals checked in over 2 days:")
    print(f"  first sync          {first['requests']} searches for {first['new']} deals")
    print(f"  quiet polls         {quiet} searches (target <= 2 each)")
    print(f"  busy polls          {busy} searches ({PER_POLL} new + {PER_POLL} written back)")
    print(f"  before (re-read)    {before} searches a poll")
    print(
        f"  a day at 10,000 check-ins: before {per_day_before:,} requests "
        f"({POLLS_A_DAY} x {before} searches + {writeback} write-backs + {webhook_reads:,} "
        f"webhook reads), after {per_day_after:,} ({POLLS_A_DAY} x {max(busy)} + same)"
    )
    if max(quiet) > 2:
        failures.append(f"a quiet poll cost {max(quiet)} searches")
    if first["new"] != 10_000:
        failures.append(f"the first sync brought in {first['new']} deals")
    return failures


def _searches(sim, run_sync: Callable[..., dict], client_rps: float, *args: str) -> int:
    sim.reset_stats()
    result = run_sync(sim, client_rps, *args)
    return sim.stats()["requests"].get("search", 0) or result["requests"]


def _write_back(sim, ids: list[str]) -> None:
    """Changes HubSpot makes when outcomes are written back: modified now."""
    import requests

    inputs = [{"id": i, "properties": {"vcc_pipeline_status": "done"}} for i in ids]
    response = requests.post(
        sim.base_url + "/crm/objects/2026-09/deals/batch/update",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=30,
    )
    response.raise_for_status()
