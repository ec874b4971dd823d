"""What a chaos run must leave behind (bench/chaos_system.py runs it), read from the
database and the HubSpot simulator once the system has drained:

- every deal live in HubSpot exists exactly once in `deals`, active (none lost, none
  doubled); every other deal of ours is as HubSpot has it (archived, or merged into the
  survivor HubSpot names), and none deleted or merged away there is active here;
- no run of a merged-away deal overlaps one of its survivor's;
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
stuck = deals not ended + runs left running + outcomes not sent or left claimed + failed
deals without a reason + syncs left running.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from chaos_lifecycle import hubspot_truth

if TYPE_CHECKING:
    from hubspot.simulator.process import RunningSimulator

# Deals deleted or merged away in HubSpot may stop halfway (pending): only active ones must end.
_SETTLED_SQL = """
SELECT (SELECT count(*) FROM deals WHERE hubspot_state = 'active'),
       (SELECT count(*) FROM deals
        WHERE status IN ('pending', 'running') AND hubspot_state = 'active'),
       (SELECT count(*) FROM pipeline_runs WHERE status = 'running'),
       -- An outcome queued for a deal deleted in HubSpot waits for a restore: not to do.
       (SELECT count(*) FROM deal_writebacks AS w JOIN deals AS d ON d.id = w.deal_id
        WHERE w.state = 'processing' OR (w.state = 'queued' AND d.hubspot_state = 'active')),
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
WHERE d.status IN ('done', 'failed') AND d.hubspot_state = 'active'
"""
# A run of a merged-away deal overlapping one of its survivor's: two pipelines at once.
_MERGE_OVERLAPS_SQL = """
SELECT count(*) FROM pipeline_runs AS a
JOIN deals AS m ON m.id = a.deal_id AND m.merged_into_id IS NOT NULL
JOIN pipeline_runs AS b ON b.deal_id = m.merged_into_id
WHERE a.started_at < coalesce(b.ended_at, 'infinity')
  AND b.started_at < coalesce(a.ended_at, 'infinity')
"""
_STATES_SQL = """
SELECT d.hubspot_deal_id, d.hubspot_state, s.hubspot_deal_id
FROM deals AS d LEFT JOIN deals AS s ON s.id = d.merged_into_id
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


Update = dict[str, Any]


def _answered_pairs(received: list[Update]) -> list[tuple[Update, Update, Update]]:
    """Each answered update with the next one: (first try of the pass that got `before`
    answered, `before`, `after`)."""
    pairs: list[tuple[Update, Update, Update]] = []
    tries_start: Update | None = None
    answered: tuple[Update, Update] | None = None  # (its first try, it)
    for update in received:
        tries_start = tries_start or update
        if not update["answered"]:
            continue
        if answered is not None:
            pairs.append((*answered, update))
        answered, tries_start = (tries_start, update), None
    return pairs


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
    lifecycle: dict[str, int] | None = None,
) -> ChaosResult:
    hubspot_ids, survivor_of = hubspot_truth(sim)
    updates = sim.updates()
    stats = sim.stats()
    with psycopg.connect(conninfo) as conn:
        rows = Counter(_counts(conn, "SELECT hubspot_deal_id, count(*) FROM deals GROUP BY 1"))
        statuses = _counts(
            conn, "SELECT status, count(*) FROM deals WHERE hubspot_state = 'active' GROUP BY 1"
        )
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
        states = conn.execute(_STATES_SQL).fetchall()
        merge_overlaps = _value(conn, _MERGE_OVERLAPS_SQL)
        # An outcome HubSpot refused as not found: sent to a deleted or merged-away id.
        to_dead = _value(conn, "SELECT count(*) FROM deal_writebacks WHERE state = 'error'")
        # A claim never settled, whatever became of its deal (once left for ever on a deal
        # deleted or merged away while its sender was killed).
        left_claimed = _value(
            conn, "SELECT count(*) FROM deal_writebacks WHERE state = 'processing'"
        )
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
        # (at least once, by design). The lease runs from the claim, which was taken before
        # the first of that pass's tries (the client's retries after a hidden answer share
        # it). Anything else answered twice is a duplicate.
        for claimed, before, after in _answered_pairs(received):
            waited = (_when(after["at"]) - _when(claimed["at"])).total_seconds()
            # The claim came a moment before its first try: allow for that moment.
            if waited >= lease_seconds - 1 and after["properties"] == before["properties"]:
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
    active = {hid for hid, state, _ in states if state == "active"}
    # Ours not as HubSpot says: live there but not here, merged into the wrong survivor.
    wrong_state = sum(
        1
        for hid, state, survivor in states
        if (hid in hubspot_ids and state != "active")
        or (hid in survivor_of and (state, survivor) != ("merged", survivor_of[hid]))
    )
    result.lost = {
        "deals missing": len(hubspot_ids - active),
        "deals not as HubSpot has them": wrong_state,
        "outcomes HubSpot never got or got wrong": wrong + missing_row,
    }
    result.duplicated = {
        "deals doubled": sum(1 for n in rows.values() if n > 1),
        "overlapping runs": overlaps,
        "stages succeeded twice": stages_twice,
        "outcomes answered twice": twice,
        "active here, deleted or merged away in HubSpot": len(active - hubspot_ids),
        "runs of one merge at once": merge_overlaps,
    }
    result.stuck = {
        "deals pending or running": statuses.get("pending", 0) + statuses.get("running", 0),
        "runs running": running_runs,
        "outcomes not sent": unsent,
        "outcomes left claimed": left_claimed,
        "failed without a reason": no_reason,
        "sync runs running": syncs.get("running", 0) + syncs.get("queued", 0),
    }
    result.info = {
        "deals by status": dict(sorted(statuses.items())),
        "HubSpot lifecycle (deleted, restored, merged, webhooks lost)": lifecycle or {},
        "ours by HubSpot state": dict(Counter(state for _, state, _ in states)),
        # Sent before we could know (the deletion's webhook lost, or the send in flight):
        # HubSpot refused them as not found, so nothing was written to a dead id.
        "outcomes HubSpot refused as not found": to_dead,
        "deals not live in HubSpot (archived or merged here)": len(set(rows) - hubspot_ids),
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
