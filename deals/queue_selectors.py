"""Reads for the operator queue's pages: keyset-paged deals with their stage progress.

Two queries a page whatever its size (deal_queue_select, then deal_queue_page_from); the
page's wire format and ETag are in queue_format.
"""

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypedDict

from django.db import connection
from django.utils.dateparse import parse_datetime
from psycopg.types.datetime import TimestamptzLoader

from .models import Deal, PipelineRun, Stage

# The stages the operator queue shows as progress dots; review and done are pipeline
# internals (a deal's current_stage may still be one of them).
QUEUE_STAGES: tuple[str, ...] = (
    Stage.INTAKE,
    Stage.SEGMENTATION,
    Stage.CATEGORIZATION,
    Stage.APPRAISAL,
)
STEP_STATUSES: tuple[str, ...] = ("pending", *PipelineRun.Status.values)
# The queue's `hubspot_state` filter: one state, or every deal whatever its state.
ALL_STATES = "all"
HUBSPOT_STATE_FILTERS: tuple[str, ...] = (*Deal.HubspotState.values, ALL_STATES)


@dataclass(frozen=True)
class QueueCursor:
    """Where a queue page ends: the (updated_at, id) of its last deal.

    Without an id it is a plain timestamp: every deal updated strictly before it. The id
    breaks ties, so deals sharing one updated_at (bulk upserts) are neither skipped nor
    repeated across pages.
    """

    updated_at: datetime
    id: uuid.UUID | None = None

    def encode(self) -> str:
        # Readable on purpose (a log line or a URL shows where a page started); clients
        # treat it as opaque and pass it back verbatim.
        stamp = self.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return stamp if self.id is None else f"{stamp}|{self.id}"

    @classmethod
    def decode(cls, value: str) -> "QueueCursor":
        """Parse a cursor or a plain ISO timestamp; ValueError when it is neither."""
        stamp, _, id_part = value.strip().partition("|")
        updated_at = parse_datetime(stamp)  # ValueError for an impossible date, None for junk
        if updated_at is None:
            raise ValueError(f"not an ISO timestamp: {stamp!r}")
        if updated_at.tzinfo is None:
            updated_at = updated_at.replace(tzinfo=UTC)
        return cls(updated_at=updated_at, id=uuid.UUID(id_part) if id_part else None)


class QueueStep(TypedDict):
    """One progress dot: the latest run of one queue stage, or pending when it never ran.
    A dict in the page's own shape (queue_apis.QueueStepSerializer), written out as it is: built
    once, not again for the wire. Read-only: the pending ones are shared by every page."""

    stage: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    pipeline_run_id: uuid.UUID | None
    error: str | None  # only when the stage failed


class QueueDeal(NamedTuple):
    """A deal as the queue shows it."""

    id: uuid.UUID
    hubspot_deal_id: str
    name: str
    status: str
    current_stage: str
    hubspot_state: str
    merged_into_hubspot_deal_id: str | None  # the survivor's; None unless merged
    created_at: datetime
    updated_at: datetime
    first_started_at: datetime | None  # of the deal's first run, any stage
    last_ended_at: datetime | None  # of its latest run; None while that run is open
    steps: list[QueueStep]  # exactly one per QUEUE_STAGES, in order

    @property
    def is_open(self) -> bool:
        """True while the latest run has not ended: the duration grows with the clock."""
        return self.first_started_at is not None and self.last_ended_at is None

    def duration_ms(self, *, now: datetime) -> int | None:
        """From the first run's start to the latest run's end, or to `now` while it runs."""
        if self.first_started_at is None:
            return None
        end = self.last_ended_at or now
        return max(0, round((end - self.first_started_at).total_seconds() * 1000))


# A queue row as read: (id, hubspot_deal_id, name, status, current_stage, hubspot_state,
# merged_into_hubspot_deal_id, created_at, updated_at, version).
QueueRow = tuple[uuid.UUID, str, str, str, str, str, str | None, datetime, datetime, str]


@dataclass(frozen=True)
class QueueSelection:
    """A queue page's deals as its first query read them, before their runs are read.

    `rows` are QueueRow tuples, the last field the row version (PostgreSQL's xmin), new
    with every committed write of the deal. Everything a page shows is in these rows or in
    the runs, and every write of a run writes its deal too (deals/services/runs.py),
    so the rows alone tell whether the page changed, before the runs
    are read (queue_format). A merged deal's row carries its survivor's HubSpot id, which
    never changes once the survivor exists.
    """

    rows: list[QueueRow]
    has_more: bool


@dataclass(frozen=True)
class QueuePage:
    deals: list[QueueDeal]
    next_before: QueueCursor | None


# Columns in the order QueueDeal takes them, plus the row version.
_COLUMNS = (
    "id, hubspot_deal_id, name, status, current_stage, hubspot_state,"
    " merged_into_hubspot_deal_id, created_at, updated_at, version"
)
# The survivor's HubSpot id in the same query: a subquery evaluated only for the rows the
# LIMIT keeps, and only for merged ones (a primary-key lookup each); a join would be
# planned with the whole statement, and could change how the queue's indexes are walked.
_SURVIVOR = (
    "CASE WHEN hubspot_state = 'merged' THEN (SELECT survivor.hubspot_deal_id FROM deals"
    " AS survivor WHERE survivor.id = deals.merged_into_id) END"
)
_FROM_DEALS = (
    "SELECT id, hubspot_deal_id, name, status, current_stage, hubspot_state,"
    f" {_SURVIVOR} AS merged_into_hubspot_deal_id, created_at, updated_at,"
    " xmin::text AS version FROM deals"
)
_ORDER = "ORDER BY updated_at DESC, id DESC"
_SELECT_DEALS = f"{_FROM_DEALS} {{where}} {_ORDER} LIMIT %(limit)s"
# A search looks at the newest deals first and asks an index only when the page is not
# full there. The planner, left to choose, walks the updated_at index for any term it
# thinks common enough, and a term whose deals are all old (a HubSpot id prefix, most
# often) then costs a walk through most of the table.
SEARCH_WINDOW = 2000
_SEARCH_DEALS = f"""
WITH recent AS MATERIALIZED (
    SELECT * FROM (
        SELECT *, {{match}} AS hit FROM ({_FROM_DEALS} {{where}} {_ORDER} LIMIT {SEARCH_WINDOW})
        AS window_
    ) AS w WHERE hit LIMIT %(limit)s
)
SELECT {_COLUMNS} FROM recent WHERE (SELECT count(*) FROM recent) = %(limit)s
UNION ALL
SELECT {_COLUMNS} FROM (
    -- OFFSET 0: planned on its own, without the LIMIT (so by the search indexes), and
    -- the exact match below is checked on its rows, not used to pick an index.
    {_FROM_DEALS} {{where_found}} OFFSET 0
) AS found
WHERE (SELECT count(*) FROM recent) < %(limit)s AND {{match}}
{_ORDER} LIMIT %(limit)s
"""
# The deal ids go as one array literal ('{id,id,...}'): psycopg quotes a list of UUIDs
# one element at a time, which cost a fifth of this query's own time.
_SELECT_RUNS = (
    "SELECT deal_id, id, stage, status, started_at, ended_at, error FROM pipeline_runs "
    "WHERE deal_id = ANY(%s::uuid[]) ORDER BY started_at, id"
)


def deal_queue_select(
    *,
    limit: int,
    before: QueueCursor | None = None,
    status: str | None = None,
    stage: str | None = None,
    q: str | None = None,
    hubspot_state: str = Deal.HubspotState.ACTIVE,
) -> QueueSelection:
    """The first of a queue page's two queries: its deals, newest updated_at first.

    Keyset paging on (updated_at, id) over deals_updated_id_desc (or the status / stage
    index, filtered): the cost of a page does not grow with its depth. `q` is a HubSpot id
    prefix or a part of the name in any case: looked for among the newest SEARCH_WINDOW
    deals first (a common term fills the page there), else through the HubSpot id's pattern
    index and deals_name_trgm (a rare one), in the same statement. `hubspot_state`: the
    active deals (the default), the archived or the merged ones, or ALL_STATES. limit + 1
    rows, to know whether a next page exists.
    """
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if before is not None and before.id is not None:
        # A row comparison: PostgreSQL walks the index from that exact position (an OR of
        # two conditions is not an index range).
        conditions.append("(updated_at, id) < (%(before_at)s, %(before_id)s)")
        params.update(before_at=before.updated_at, before_id=before.id)
    elif before is not None:
        conditions.append("updated_at < %(before_at)s")
        params["before_at"] = before.updated_at
    if status:
        conditions.append("status = %(status)s")
        params["status"] = status
    if stage:
        conditions.append("current_stage = %(stage)s")
        params["stage"] = stage
    conditions += _state_conditions(hubspot_state, params)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    if not q:
        rows = _fetch(_SELECT_DEALS.format(where=where), params)
        return QueueSelection(rows=rows[:limit], has_more=len(rows) > limit)
    like = connection.ops.prep_for_like_query(q)  # %, _ and a backslash match themselves
    # The index is asked for the longest word of the term, the rarest part as a rule: a
    # trigram index does much more work for a word every name has ("deal") than for one
    # few have ("99999"). The whole term is then checked on what it finds.
    word = max(like.split(), key=len, default=like)
    params.update(
        prefix=f"{like}%", part=f"%{like}%", word=f"%{word}%" if len(word) >= 3 else f"%{like}%"
    )
    match = "(hubspot_deal_id LIKE %(prefix)s OR name ILIKE %(part)s)"
    found = "(hubspot_deal_id LIKE %(prefix)s OR name ILIKE %(word)s)"
    where_found = " AND ".join([*conditions, found])
    sql = _SEARCH_DEALS.format(match=match, where=where, where_found=f"WHERE {where_found}")
    rows = _fetch(sql, params)
    return QueueSelection(rows=rows[:limit], has_more=len(rows) > limit)


def _state_conditions(hubspot_state: str, params: dict[str, Any]) -> list[str]:
    if hubspot_state == ALL_STATES:
        return []
    if hubspot_state == Deal.HubspotState.ACTIVE:
        # Nearly every deal: the queue's indexes serve it as before, the few others
        # dropped as the walk meets them.
        return ["hubspot_state = 'active'"]
    params["hubspot_state"] = hubspot_state
    # The few others, by deals_inactive_updated_id: its condition, written out, lets the
    # planner use it whatever the parameter's value.
    return ["hubspot_state <> 'active'", "hubspot_state = %(hubspot_state)s"]


def deal_queue_page_from(*, selection: QueueSelection) -> QueuePage:
    """The second query: the runs of the selected deals, folded into their stage steps."""
    # Keyed by the id's int: UUID.__hash__ is Python code, and it would run for every run.
    runs_by_deal: dict[int, list[tuple]] = defaultdict(list)
    if selection.rows:
        ids = "{" + ",".join([str(row[0]) for row in selection.rows]) + "}"
        for run in _fetch(_SELECT_RUNS, [ids]):
            runs_by_deal[run[0].int].append(run)
    page = [_queue_deal(row, runs_by_deal.get(row[0].int, ())) for row in selection.rows]
    last = page[-1] if selection.has_more else None
    cursor = QueueCursor(updated_at=last.updated_at, id=last.id) if last else None
    return QueuePage(deals=page, next_before=cursor)


def _fetch(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple]:
    """Rows of one statement, through Django's cursor (so it is counted and logged as any
    query), with timestamps read by psycopg's C loader: Django's own (pure Python, to set
    its time zone) cost more than the query for a page's 700 to 2,800 timestamps
    (bench/queue_layers.py). The connection's time zone is UTC (USE_TZ), so the datetimes
    are the same."""
    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


_NEVER_RUN = {
    stage: QueueStep(
        stage=stage,
        status="pending",
        started_at=None,
        ended_at=None,
        pipeline_run_id=None,
        error=None,
    )
    for stage in QUEUE_STAGES
}
_FAILED = PipelineRun.Status.FAILED.value  # a plain str: an enum member's lookup costs more


def _queue_deal(row: QueueRow, runs: list[tuple] | tuple) -> QueueDeal:
    """Build one queue row; `runs` are the deal's (deal_id, id, stage, ...) oldest first."""
    latest = {run[2]: run for run in runs}  # oldest first: each stage's latest stays
    steps: list[QueueStep] = []
    for stage in QUEUE_STAGES:
        run = latest.get(stage)
        if run is None:
            steps.append(_NEVER_RUN[stage])
            continue
        _, run_id, _, run_status, started_at, ended_at, error = run
        steps.append(
            {
                "stage": stage,
                "status": run_status,
                "started_at": started_at,
                "ended_at": ended_at,
                "pipeline_run_id": run_id,
                "error": error if run_status == _FAILED else None,
            }
        )
    first_started_at = runs[0][4] if runs else None
    last_ended_at = runs[-1][5] if runs else None
    return QueueDeal(*row[:9], first_started_at, last_ended_at, steps)
