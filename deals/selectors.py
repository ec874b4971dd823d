"""Reads of deals, shaped for the API and the admin."""

import functools
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, F, Func, Max, Prefetch, Q, TextField
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.utils.dateparse import parse_datetime

from .models import Deal, DealWriteback, PipelineRun, Stage

# The stages the operator queue shows as progress dots; review and done are pipeline
# internals (a deal's current_stage may still be one of them).
QUEUE_STAGES: tuple[str, ...] = (
    Stage.INTAKE,
    Stage.SEGMENTATION,
    Stage.CATEGORIZATION,
    Stage.APPRAISAL,
)
STEP_STATUSES: tuple[str, ...] = ("pending", *PipelineRun.Status.values)


def deal_get_with_runs(*, deal_id: uuid.UUID) -> Deal | None:
    """The deal with its write-back and every run of every stage, oldest first (two
    queries)."""
    runs = PipelineRun.objects.order_by("started_at", "attempt", "id")
    return (
        Deal.objects.select_related("writeback")
        .prefetch_related(Prefetch("pipeline_runs", queryset=runs))
        .filter(id=deal_id)
        .first()
    )


def deal_writeback_of(deal: Deal) -> DealWriteback | None:
    """The deal's write-back row, if its outcome was ever queued for HubSpot."""
    try:
        return deal.writeback
    except DealWriteback.DoesNotExist:
        return None


def deal_ids_by_hubspot_id(*, hubspot_deal_ids: list[str]) -> dict[str, uuid.UUID]:
    """Our deal id for each of these HubSpot ids that we have."""
    rows = Deal.objects.filter(hubspot_deal_id__in=hubspot_deal_ids).values_list(
        "hubspot_deal_id", "id"
    )
    return dict(rows)


def deal_writebacks_remaining() -> int:
    """Outcomes not yet sent: queued (due now or later) or being sent."""
    return DealWriteback.objects.filter(
        state__in=[DealWriteback.State.QUEUED, DealWriteback.State.PROCESSING]
    ).count()


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


class UtcIso(Func):
    """A timestamp as ISO 8601 text in UTC ("2026-01-01T09:30:00.250000Z"; no fraction when
    it is zero, as datetime.isoformat() and DRF write it), formatted by the database.

    A page reads two timestamps per deal and two per run (2,800 at limit 200 with six
    runs a deal); loading each as a datetime through Django's timestamptz loader (pure
    Python) cost more than both queries together, and the API wants the text anyway.
    """

    output_field = TextField()
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


class QueueStep(NamedTuple):
    """One progress dot: the latest run of one queue stage, or pending when it never ran.
    Timestamps are ISO 8601 strings in UTC (see UtcIso)."""

    stage: str
    status: str
    started_at: str | None = None
    ended_at: str | None = None
    pipeline_run_id: uuid.UUID | None = None
    error: str | None = None


class QueueDeal(NamedTuple):
    """A deal as the queue shows it. Timestamps are ISO 8601 strings in UTC (see UtcIso)."""

    id: uuid.UUID
    hubspot_deal_id: str
    name: str
    status: str
    current_stage: str
    created_at: str
    updated_at: str
    first_started_at: str | None  # of the deal's first run, any stage
    last_ended_at: str | None  # of its latest run; None while that run is open
    steps: tuple[QueueStep, ...]

    @property
    def is_open(self) -> bool:
        """True while the latest run has not ended: the duration grows with the clock."""
        return self.first_started_at is not None and self.last_ended_at is None

    def duration_ms(self, *, now: datetime) -> int | None:
        """From the first run's start to the latest run's end, or to `now` while it runs."""
        if self.first_started_at is None:
            return None
        end = datetime.fromisoformat(self.last_ended_at) if self.last_ended_at else now
        return max(
            0, round((end - datetime.fromisoformat(self.first_started_at)).total_seconds() * 1000)
        )


@dataclass(frozen=True)
class QueuePage:
    deals: list[QueueDeal]
    next_before: QueueCursor | None


_DEAL_COLUMNS = ("id", "hubspot_deal_id", "name", "status", "current_stage", "created", "updated")
_RUN_COLUMNS = ("deal_id", "id", "stage", "status", "started", "ended", "error")
# The parts of the two queries that never change, built once: every chained queryset
# call copies the query, and at a poll every 2 s per open page that adds up.
_QUEUE_DEALS = Deal.objects.order_by("-updated_at", "-id").annotate(
    created=UtcIso("created_at"), updated=UtcIso("updated_at")
)
_QUEUE_RUNS = (
    PipelineRun.objects.annotate(started=UtcIso("started_at"), ended=UtcIso("ended_at"))
    .order_by("started_at", "id")
    .values_list(*_RUN_COLUMNS)
)


def deal_queue_page(
    *,
    limit: int,
    before: QueueCursor | None = None,
    status: str | None = None,
    stage: str | None = None,
    q: str | None = None,
) -> QueuePage:
    """Deals for the operator queue, newest updated_at first, with their stage progress.

    Keyset paging on (updated_at, id) over the deals_updated_id_desc index: the cost of
    a page does not grow with its depth. Exactly two queries, whatever the page size and
    however many runs a deal has: the deals (limit + 1 rows, to know whether a next page
    exists) and the runs of those deals.
    """
    deals = _QUEUE_DEALS
    if before is not None and before.id is not None:
        # A row comparison, (updated_at, id) < (%s, %s): PostgreSQL walks the index from
        # that exact position. (An OR of two conditions is not an index range.)
        deals = deals.filter(
            TupleLessThan(Tuple(F("updated_at"), F("id")), (before.updated_at, before.id))
        )
    elif before is not None:
        deals = deals.filter(updated_at__lt=before.updated_at)
    if status:
        deals = deals.filter(status=status)
    if stage:
        deals = deals.filter(current_stage=stage)
    if q:
        deals = deals.filter(Q(hubspot_deal_id__startswith=q) | Q(name__icontains=q))
    rows = list(deals.values_list(*_DEAL_COLUMNS)[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]

    # values_list rather than a Prefetch of model instances: the same two statements,
    # without building a model object for each of up to 200 deals x n runs.
    runs_by_deal: dict[uuid.UUID, list[tuple]] = defaultdict(list)
    for run in _runs_of([row[0] for row in rows]) if rows else ():
        runs_by_deal[run[0]].append(run)

    page = [_queue_deal(row, runs_by_deal.get(row[0], ())) for row in rows]
    last = page[-1] if has_more else None
    cursor = (
        QueueCursor(updated_at=datetime.fromisoformat(last.updated_at), id=last.id)
        if last
        else None
    )
    return QueuePage(deals=page, next_before=cursor)


def _runs_of(deal_ids: list[uuid.UUID]) -> list[tuple]:
    """The runs of these deals, oldest first, as _RUN_COLUMNS tuples (one query)."""
    prepare = PipelineRun._meta.get_field("deal").target_field.get_db_prep_value
    with connection.cursor() as cursor:
        cursor.execute(
            _runs_sql(len(deal_ids)),
            [prepare(deal_id, connection) for deal_id in deal_ids],
        )
        return cursor.fetchall()


@functools.cache
def _runs_sql(count: int) -> str:
    """The runs query for `count` deals as SQL, compiled by the ORM once per page size.
    Building, compiling and iterating it through the ORM on every poll cost as much CPU as
    the query itself; its text only depends on the count."""
    placeholders = [uuid.UUID(int=n) for n in range(count)]  # distinct: IN drops repeats
    sql, params = _QUEUE_RUNS.filter(deal_id__in=placeholders).query.sql_with_params()
    assert len(params) == count, "the runs query takes exactly one parameter per deal"
    return sql


def _queue_deal(row: tuple, runs: list[tuple] | tuple) -> QueueDeal:
    """Build one queue row; `runs` are the deal's (deal_id, id, stage, ...) oldest first."""
    latest: dict[str, tuple] = {}
    for run in runs:
        latest[run[2]] = run  # oldest first, so the last one written is the latest
    steps = []
    for stage in QUEUE_STAGES:
        run = latest.get(stage)
        if run is None:
            steps.append(QueueStep(stage=stage, status="pending"))
            continue
        _, run_id, _, run_status, started_at, ended_at, error = run
        failed = run_status == PipelineRun.Status.FAILED
        steps.append(
            QueueStep(
                stage=stage,
                status=run_status,
                started_at=started_at,
                ended_at=ended_at,
                pipeline_run_id=run_id,
                error=error if failed else None,
            )
        )
    return QueueDeal(
        *row,
        first_started_at=runs[0][4] if runs else None,
        last_ended_at=runs[-1][5] if runs else None,
        steps=tuple(steps),
    )


def deals_latest_checked_in_at() -> datetime | None:
    """The latest HubSpot checked-in time of any deal: where the next sync's window starts."""
    return Deal.objects.aggregate(latest=Max("hubspot_checked_in_at"))["latest"]


def deal_status_counts() -> dict[str, int]:
    """How many deals are in each status (every status present, zero when none), and total."""
    counts = dict.fromkeys(Deal.Status.values, 0)
    rows = Deal.objects.order_by().values_list("status").annotate(n=Count("*"))
    counts.update(dict(rows))
    counts["total"] = sum(counts.values())
    return counts
