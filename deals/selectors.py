"""Reads of deals, shaped for the API and the admin (the queue's pages: queue_selectors)."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, Max, Prefetch, QuerySet
from django.db.models.expressions import RawSQL

from .models import RERUN_FROM, RETRY_FROM, Deal, DealWriteback, PipelinePass, PipelineRun, Stage
from .queue_selectors import ALL_STATES

# The columns of a run only its own detail shows: large, and never in a list of runs.
RUN_DETAIL_FIELDS = ("params", "output", "log_lines")


def deal_get_with_runs(*, deal_id: uuid.UUID) -> Deal | None:
    """The deal with its write-back and the deal it was merged into, every run of every
    stage, oldest first, its passes, newest first, and the deals merged into it, in the
    order they were (four queries)."""
    # What each stage recorded stays out: a run's detail is read on its own (pipeline_run_get).
    runs = PipelineRun.objects.order_by("started_at", "attempt", "id").defer(*RUN_DETAIL_FIELDS)
    passes = PipelinePass.objects.order_by("-started_at", "-id")
    merged_from = Deal.objects.only("id", "hubspot_deal_id", "merged_into_id").order_by(
        "hubspot_state_at", "hubspot_deal_id"
    )
    return (
        Deal.objects.select_related("writeback", "merged_into")
        .prefetch_related(
            Prefetch("pipeline_runs", queryset=runs),
            Prefetch("passes", queryset=passes),
            Prefetch("merged_from", queryset=merged_from),
        )
        .filter(id=deal_id)
        .first()
    )


def deal_stage_outputs(*, deal_id: uuid.UUID, stages: Sequence[str]) -> dict[str, Any]:
    """The output of the latest successful run of each of these stages of the deal, by
    stage (one query; a stage that never succeeded is absent)."""
    if not stages:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (stage) stage, output FROM pipeline_runs "
            "WHERE deal_id = %s AND status = 'succeeded' AND stage = ANY(%s) "
            "ORDER BY stage, started_at DESC, attempt DESC",
            [deal_id, list(stages)],
        )
        rows = cursor.fetchall()
    # Django has psycopg hand jsonb over as its text.
    return {stage: None if text is None else json.loads(text) for stage, text in rows}


def pipeline_run_get(*, run_id: uuid.UUID) -> PipelineRun | None:
    """One run with everything its stage recorded (its version, params, output, log lines)."""
    return PipelineRun.objects.filter(id=run_id).first()


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


def deals_hubspot_states(*, after: str, limit: int) -> list[tuple[str, str]]:
    """(HubSpot id, hubspot_state) of the next `limit` deals HubSpot may still delete,
    restore or merge (active and archived ones), by HubSpot id after `after`."""
    rows = (
        Deal.objects.filter(
            hubspot_deal_id__gt=after,
            hubspot_state__in=[Deal.HubspotState.ACTIVE, Deal.HubspotState.ARCHIVED],
        )
        .order_by("hubspot_deal_id")
        .values_list("hubspot_deal_id", "hubspot_state")[:limit]
    )
    return list(rows)


def deal_writebacks_remaining() -> int:
    """Outcomes not yet sent: queued (due now or later) or being sent."""
    return DealWriteback.objects.filter(
        state__in=[DealWriteback.State.QUEUED, DealWriteback.State.PROCESSING]
    ).count()


def deals_latest_checked_in_at() -> datetime | None:
    """The latest HubSpot checked-in time of any deal: where the next sync's window starts."""
    return Deal.objects.aggregate(latest=Max("hubspot_checked_in_at"))["latest"]


@dataclass(frozen=True)
class DealCounts:
    """How many active deals are in each status and at each current stage (every one
    present, zero when none), and in all; `inactive`: the deals archived or merged in
    HubSpot, apart ({"archived": n, "merged": m}); `unfolded`: change rows not yet folded
    (see DealCount)."""

    by_status: dict[str, int]
    by_stage: dict[str, int]
    total: int
    inactive: dict[str, int]
    unfolded: int


_INACTIVE: tuple[str, ...] = (Deal.HubspotState.ARCHIVED, Deal.HubspotState.MERGED)
# sum() of bigints is a numeric (Decimal in Python, 1.0 in JSON): counts are integers.
_SELECT_COUNTS = """
SELECT status, stage, sum(deals)::bigint, sum(changes)::bigint FROM (
    SELECT status, stage, deals, 0 AS changes FROM deal_counts
    UNION ALL
    SELECT status, stage, deals, 1 FROM deal_count_changes
) AS counted GROUP BY status, stage
"""


def deal_counts() -> DealCounts:
    """The counts the deal_counts triggers keep: one query over 24 counter rows and the
    changes since the last fold, whatever the number of deals (a GROUP BY over the deals
    grows with them). One statement, one snapshot: exact, even mid-fold. A deal archived
    or merged in HubSpot is counted under that state (DealCount), not its status."""
    by_status = dict.fromkeys(Deal.Status.values, 0)
    by_stage = dict.fromkeys(Stage.values, 0)
    inactive = dict.fromkeys(_INACTIVE, 0)
    unfolded = 0
    with connection.cursor() as cursor:
        cursor.execute(_SELECT_COUNTS)
        for counted_as, stage, n, changes in cursor.fetchall():
            unfolded += changes
            if counted_as in inactive:
                inactive[counted_as] += n
                continue
            by_status[counted_as] = by_status.get(counted_as, 0) + n
            by_stage[stage] = by_stage.get(stage, 0) + n
    return DealCounts(
        by_status=by_status,
        by_stage=by_stage,
        total=sum(by_status.values()),
        inactive=inactive,
        unfolded=unfolded,
    )


# ------------------------------------------------------------------------------
# Bulk actions
# ------------------------------------------------------------------------------
def deals_matching(
    *,
    status: str = "",
    stage: str = "",
    q: str = "",
    hubspot_state: str = Deal.HubspotState.ACTIVE,
) -> QuerySet[Deal]:
    """The deals the queue page's filters select: the same conditions as deal_queue_select,
    so "Re-run all N" means the deals the operator is looking at (a bulk action then takes
    only the active ones among them)."""
    deals = Deal.objects.order_by()
    if hubspot_state != ALL_STATES:
        deals = deals.filter(hubspot_state=hubspot_state)
    if status:
        deals = deals.filter(status=status)
    if stage:
        deals = deals.filter(current_stage=stage)
    if q:
        # As deal_queue_select matches: a HubSpot id prefix or a part of the name in any
        # case (ILIKE, which deals_name_trgm serves; Django's icontains would not use it).
        like = connection.ops.prep_for_like_query(q)
        deals = deals.filter(
            RawSQL(
                "(hubspot_deal_id LIKE %s OR name ILIKE %s)",
                (f"{like}%", f"%{like}%"),
                output_field=BooleanField(),
            )
        )
    return deals


def deals_inactive_matching(
    *, status: str, stage: str, q: str, hubspot_state: str
) -> dict[str, int]:
    """How many of the deals the filters select are archived or merged in HubSpot (a bulk
    action leaves them alone): {"archived": n, "merged": m}, in one query, which the
    partial index of the inactive deals serves (they are few)."""
    counted = dict.fromkeys(_INACTIVE, 0)
    rows = (
        deals_matching(status=status, stage=stage, q=q, hubspot_state=hubspot_state)
        .exclude(hubspot_state=Deal.HubspotState.ACTIVE)
        .values_list("hubspot_state")
        .annotate(n=Count("id"))
    )
    for state, n in rows:
        counted[state] = n
    return counted


def deals_bulk_preview(
    *, status: str, stage: str, q: str, hubspot_state: str = "active", limit: int
) -> dict[str, int]:
    """How many of the deals the filters select each bulk action would start again (active
    ones only), counting no further than limit + 1 (more than the limit: refused anyway), so
    the cost stays bounded however many deals match (two queries)."""
    matching = deals_matching(status=status, stage=stage, q=q, hubspot_state=hubspot_state).filter(
        hubspot_state=Deal.HubspotState.ACTIVE
    )
    return {
        action: matching.filter(status__in=from_status)[: limit + 1].count()
        for action, from_status in (("retry", RETRY_FROM), ("rerun", RERUN_FROM))
    }


@dataclass(frozen=True)
class Backlog:
    """Deals active in HubSpot waiting for the pipeline (pending) or in it (running), and
    when the longest-waiting pending one last moved (queued, retried or stopped)."""

    pending: int
    running: int
    oldest_pending_at: datetime | None


def pipeline_backlog() -> Backlog:
    """The backlog from the counters, and its oldest deal from the unfinished deals' index
    (its first pending row): cheap at any size. Deals deleted or merged in HubSpot wait
    pending for a restore and are not part of it."""
    counts = deal_counts()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(updated_at) FROM deals WHERE status = %s AND hubspot_state = %s",
            [Deal.Status.PENDING, Deal.HubspotState.ACTIVE],
        )
        (oldest,) = cursor.fetchone()
    return Backlog(
        pending=counts.by_status[Deal.Status.PENDING],
        running=counts.by_status[Deal.Status.RUNNING],
        oldest_pending_at=oldest,
    )


@dataclass(frozen=True)
class PipelineHealthFacts:
    oldest_pending_at: datetime | None  # as in Backlog
    writebacks_in_error: int  # outcomes HubSpot never took (retries spent, or refused)


def pipeline_health_facts() -> PipelineHealthFacts:
    """What the health asks of deals, in one statement of two indexed reads (the
    unfinished deals' index, the write-back errors' one), for every open page's poll."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT min(updated_at) FROM deals WHERE status = %s AND hubspot_state = %s),"
            " (SELECT count(*) FROM deal_writebacks WHERE state = %s)",
            [Deal.Status.PENDING, Deal.HubspotState.ACTIVE, DealWriteback.State.ERROR],
        )
        oldest, errors = cursor.fetchone()
    return PipelineHealthFacts(oldest_pending_at=oldest, writebacks_in_error=errors)


def deal_counts_by_status_and_stage() -> dict[tuple[str, str], int]:
    """(status, stage) -> deals, from the counters as deal_counts reads them (a deal
    archived or merged in HubSpot under that state instead of its status)."""
    with connection.cursor() as cursor:
        cursor.execute(_SELECT_COUNTS)
        return {(status, stage): n for status, stage, n, _ in cursor.fetchall()}


def deal_writebacks_by_state() -> dict[str, int]:
    """Outcomes queued, being sent and in error (each from its small partial index; sent
    ones, most of the table, are not counted)."""
    State = DealWriteback.State
    counts = dict.fromkeys([State.QUEUED, State.PROCESSING, State.ERROR], 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, count(*) FROM deal_writebacks WHERE state IN (%s, %s) GROUP BY 1"
            " UNION ALL SELECT %s, count(*) FROM deal_writebacks WHERE state = %s",
            [State.QUEUED, State.PROCESSING, State.ERROR, State.ERROR],
        )
        for state, n in cursor.fetchall():
            counts[state] = n
    return {str(state): n for state, n in counts.items()}
