"""What a chaos run must leave behind (bench/chaos_system.py runs it), read from the
database and the HubSpot simulator once the system has drained:

- every deal in HubSpot exists exactly once in `deals` (none lost, none doubled);
- each ends done, or failed with a run that says why; none pending or running, no run
  left running (stuck);
- no two runs of one deal overlap in time (`pipeline_runs`: each run ended before the
  deal's next one started), so no stage ran twice at once; and no stage succeeded twice
  for one deal (a duplicate job, after a fan-out sent again, must step aside);
- each deal's outcome reached HubSpot exactly once: one batch update HubSpot answered,
  with the deal's final status and stage (resends of an update whose answer a fault hid
  are the client's right, and counted apart); the outbox row complete.

lost = deals missing + outcomes HubSpot never got (or got wrong);
duplicated = deals doubled + overlapping runs + stages done twice + outcomes HubSpot
answered twice;
stuck = deals not ended + runs left running + outcomes not sent + failed deals without a
reason + syncs left running.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import requests

if TYPE_CHECKING:
    from hubspot.simulator.process import RunningSimulator

_SETTLED_SQL = """
SELECT (SELECT count(*) FROM deals),
       (SELECT count(*) FROM deals WHERE status IN ('pending', 'running')),
       (SELECT count(*) FROM pipeline_runs WHERE status = 'running'),
       (SELECT count(*) FROM deal_writebacks WHERE state IN ('queued', 'processing')),
       (SELECT count(*) FROM sync_runs WHERE status IN ('queued', 'running'))
"""
_OVERLAPS_SQL = """
SELECT count(*) FROM (
    SELECT ended_at, lead(started_at) OVER (PARTITION BY deal_id ORDER BY started_at, id) AS next
    FROM pipeline_runs
) AS runs
WHERE next IS NOT NULL AND (ended_at IS NULL OR next < ended_at)
"""
# A stage done twice for one deal: a duplicate job that ran instead of stepping aside.
_TWICE_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM pipeline_runs WHERE status = 'succeeded'
    GROUP BY deal_id, stage HAVING count(*) > 1
) AS twice
"""
_NO_REASON_SQL = """
SELECT count(*) FROM deals AS d
WHERE d.status = 'failed' AND NOT EXISTS (
    SELECT 1 FROM pipeline_runs AS r
    WHERE r.deal_id = d.id AND r.status = 'failed' AND coalesce(r.error, '') <> '')
"""
_OUTCOMES_SQL = """
SELECT d.hubspot_deal_id, d.status, d.current_stage, w.state, w.outcome_status, w.outcome_stage
FROM deals AS d LEFT JOIN deal_writebacks AS w ON w.deal_id = d.id
WHERE d.status IN ('done', 'failed')
"""
STATUS_PROPERTY, STAGE_PROPERTY = "vcc_pipeline_status", "vcc_pipeline_stage"


def _row(conn: psycopg.Connection, sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    assert row is not None  # an aggregate always has a row
    return row


def _value(conn: psycopg.Connection, sql: str) -> Any:
    return _row(conn, sql)[0]


def _counts(conn: psycopg.Connection, sql: str) -> dict[str, int]:
    return {key: count for key, count in conn.execute(sql).fetchall()}


def open_deals(conninfo: str, *, expected: int) -> int:
    """Deals not ended yet, counting those not in our database: the backlog."""
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        total, ended = _row(
            conn, "SELECT count(*), count(*) FILTER (WHERE status IN ('done', 'failed')) FROM deals"
        )
    return max(expected, total) - ended


def outstanding(conninfo: str, *, expected: int) -> str:
    """What the system has still to do ("" once settled): deals not in yet or not ended,
    runs running, outcomes not sent (or given up), syncs in flight (one whose worker died
    is expired by the next sync after its lock's TTL)."""
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            total, open_deals, running, unsent, syncs = _row(conn, _SETTLED_SQL)
    except psycopg.Error as exc:
        return f"the database: {type(exc).__name__}"
    counts = {
        "deals not in": max(0, expected - total),
        "deals not ended": open_deals,
        "runs running": running,
        "outcomes not sent": unsent,
        "syncs running": syncs,
    }
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n)


def settled(conninfo: str, *, expected: int) -> bool:
    return not outstanding(conninfo, expected=expected)


@dataclass
class ChaosResult:
    deals: int
    faults: Counter[str]
    drain_seconds: float
    chaos_seconds: float
    max_load: float
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    stuck: dict[str, int] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (sum(self.lost.values()) or sum(self.duplicated.values()) or self.stuck_n)

    @property
    def stuck_n(self) -> int:
        return sum(self.stuck.values())

    def report(self) -> list[str]:
        def parts(counts: dict[str, int]) -> str:
            return ", ".join(f"{name} {n}" for name, n in counts.items())

        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        return [
            f"faults injected: {sum(self.faults.values())} ({kinds})",
            f"chaos phase {self.chaos_seconds:.0f} s, drain {self.drain_seconds:.1f} s, "
            f"max 1-min load {self.max_load:.1f}",
            *(f"{name}: {value}" for name, value in self.info.items()),
            f"lost: {parts(self.lost)}",
            f"duplicated: {parts(self.duplicated)}",
            f"stuck: {parts(self.stuck)}",
            *(f"note: {note}" for note in self.notes),
        ]

    def summary(self) -> str:
        return (
            f"chaos: deals={self.deals} faults={sum(self.faults.values())} "
            f"lost={sum(self.lost.values())} duplicated={sum(self.duplicated.values())} "
            f"stuck={self.stuck_n} drain_s={self.drain_seconds:.1f}"
        )


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def check_system(
    conninfo: str,
    *,
    sim: RunningSimulator,
    faults: Counter[str],
    notes: list[str],
    drain_seconds: float,
    chaos_seconds: float,
    max_load: float,
    lease_seconds: float,
) -> ChaosResult:
    hubspot_ids = simulator_deal_ids(sim)
    updates = sim.updates()
    stats = sim.stats()
    with psycopg.connect(conninfo) as conn:
        rows = Counter(_counts(conn, "SELECT hubspot_deal_id, count(*) FROM deals GROUP BY 1"))
        statuses = _counts(conn, "SELECT status, count(*) FROM deals GROUP BY 1")
        running_runs = _value(conn, "SELECT count(*) FROM pipeline_runs WHERE status = 'running'")
        overlaps = _value(conn, _OVERLAPS_SQL)
        stages_twice = _value(conn, _TWICE_SQL)
        no_reason = _value(conn, _NO_REASON_SQL)
        outcomes = conn.execute(_OUTCOMES_SQL).fetchall()
        runs = _value(conn, "SELECT count(*) FROM pipeline_runs")
        lost_workers = _value(
            conn, "SELECT count(*) FROM pipeline_runs WHERE error = 'worker lost'"
        )
        sweeps = _value(conn, "SELECT count(*) FROM pipeline_passes WHERE trigger = 'sweeper'")
        syncs = _counts(conn, "SELECT status, count(*) FROM sync_runs GROUP BY 1")
        events = _counts(conn, "SELECT status, count(*) FROM hubspot_webhook_events GROUP BY 1")
    unsent = twice = wrong = missing_row = resent_after_fault = resent_after_lease = 0
    examples: dict[str, list[str]] = {}
    for hubspot_id, status, stage, state, sent_status, sent_stage in outcomes:
        if state is None:
            missing_row += 1
            continue
        if state != "complete":
            unsent += 1
            continue
        received = updates.get(hubspot_id, [])
        answered = [u for u in received if u["answered"]]
        resent_after_fault += len(received) - len(answered)
        # A pass killed after HubSpot answered but before it recorded the send leaves its
        # claim; once the lease has run out another pass sends the same values again
        # (at least once, by design). Anything else answered twice is a duplicate.
        for before, after in itertools.pairwise(answered):
            waited = (_when(after["at"]) - _when(before["at"])).total_seconds()
            if waited >= lease_seconds and after["properties"] == before["properties"]:
                resent_after_lease += 1
            else:
                twice += 1
                examples.setdefault("answered twice", []).append(f"{hubspot_id} {received}")
                break
        last = received[-1]["properties"] if received else {}
        expected_stage = "done" if status == "done" else stage
        if (sent_status, sent_stage) != (status, expected_stage) or (
            last.get(STATUS_PROPERTY),
            last.get(STAGE_PROPERTY),
        ) != (status, expected_stage):
            wrong += 1
            examples.setdefault("got wrong", []).append(f"{hubspot_id} {received}")
    result = ChaosResult(
        deals=len(hubspot_ids),
        faults=faults,
        drain_seconds=drain_seconds,
        chaos_seconds=chaos_seconds,
        max_load=max_load,
        notes=notes + [f"{kind}: {e}" for kind, found in examples.items() for e in found[:3]],
    )
    result.lost = {
        "deals missing": len(hubspot_ids - set(rows)),
        "outcomes HubSpot never got or got wrong": wrong + missing_row,
    }
    result.duplicated = {
        "deals doubled": sum(1 for n in rows.values() if n > 1),
        "overlapping runs": overlaps,
        "stages succeeded twice": stages_twice,
        "outcomes answered twice": twice,
    }
    result.stuck = {
        "deals pending or running": statuses.get("pending", 0) + statuses.get("running", 0),
        "runs running": running_runs,
        "outcomes not sent": unsent,
        "failed without a reason": no_reason,
        "sync runs running": syncs.get("running", 0) + syncs.get("queued", 0),
    }
    result.info = {
        "deals by status": dict(sorted(statuses.items())),
        "deals not in HubSpot": len(set(rows) - hubspot_ids),
        "pipeline runs": f"{runs} ({lost_workers} closed as worker lost); "
        f"passes started by the sweeper {sweeps}",
        "sync runs by status": dict(sorted(syncs.items())),
        "webhook events by status": dict(sorted(events.items())),
        "write-back resends after a hidden answer": resent_after_fault,
        "write-back resends after a lease ran out": resent_after_lease,
        "HubSpot answered": f"{stats['responses']}; injected {stats['faults']}; "
        f"429s {stats['rate_limited']}",
    }
    return result


def simulator_deal_ids(sim: RunningSimulator) -> set[str]:
    """Every deal the simulator holds, by paging search on hs_object_id (past its cap)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    ids: set[str] = set()
    last = "0"
    while True:
        body = {
            "limit": 200,
            "properties": ["hs_object_id"],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "filterGroups": [
                {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": last}]}
            ],
        }
        response = session.post(
            sim.base_url + "/crm/objects/2026-09/deals/search", json=body, timeout=30
        )
        if response.status_code == 429:  # the simulator's search limit, shared with syncs
            time.sleep(0.5)
            continue
        response.raise_for_status()
        page = [result["id"] for result in response.json()["results"]]
        if not page:
            return ids
        ids.update(page)
        last = page[-1]


def jobs_from_log(path: Path) -> dict[str, object]:
    """From the workers' log (INFO): the sweeper's recoveries (`deals_swept`), the
    pipeline jobs sent (`deal_enqueued`, by reason) and how many deals got more than one,
    the duplicate jobs that found their deal busy (`pipeline_busy`), and the jobs that
    reached a worker (the rest vanished with Redis)."""
    sweeps = swept = busy = received = 0
    reasons: Counter[str] = Counter()
    per_deal: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        if "event=deal_enqueued" in line:
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            reasons[fields.get("reason", "?")] += 1
            per_deal[fields.get("deal_id", "?")] += 1
        elif "event=deals_swept" in line:
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            sweeps += 1
            swept += int(fields.get("deals_enqueued", 0))
        elif "event=pipeline_busy" in line:
            busy += 1
        elif "Task deals.tasks.process_deal[" in line and "] received" in line:
            received += 1  # retries included
    return {
        "sweeper": f"{sweeps} sweeps found work, {swept} deals sent again",
        "pipeline jobs sent": f"{sum(reasons.values())} ({dict(reasons)}); "
        f"{sum(1 for n in per_deal.values() if n > 1)} deals sent more than once; "
        f"{busy} jobs found their deal busy; {received} reached a worker (retries included)",
    }
