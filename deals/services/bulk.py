"""Bulk actions: re-run or retry every deal a filter selects (or an admin's selection).

Only deals active in HubSpot are started again: archived and merged ones are skipped and
counted (`skipped`, under their HubSpot state), whatever the filter says.

Up to BULK_LIMIT deals a request. The deals are started again in batches, one statement
each (its own short transaction: workers and other operators are never held up by one long
one): each deal back to pending with a new pass, all passes of the request sharing a
`bulk_id`. Then the operator lane is fed from those passes a page at a time
(PIPELINE_OPERATOR_PAGE_SIZE): each page's feeder job sits in the lane behind the page it
sent, so the next page goes in only once workers have taken this one, and a single
operator's click never waits behind more than one page of a bulk action.

Nothing is lost if the feeding stops (a broker restarted empty): the deals are pending and
the sweeper sends them again. While the feeder waits in the lane it stands for the deals
not sent yet (it carries the action's time as its send time), so the sweeper leaves them
to it however long the lane takes.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from vcc.errors import InvalidInput
from vcc.queues import OPERATOR_QUEUE

from ..broker import SENT_AT_HEADER
from ..models import RERUN_FROM, RETRY_FROM, Deal, PipelinePass, Stage
from ..selectors import deals_inactive_matching, deals_matching
from .enqueue import deal_send_now

logger = logging.getLogger(__name__)

BULK_LIMIT = 10_000
_BATCH = 1_000  # deals per statement


@dataclass(frozen=True)
class _Action:
    from_status: tuple[str, ...]
    stage: str | None  # where the deal starts again; None: the stage it is at
    trigger: str  # of the pass, when a filter selected the deals
    one_by_one_trigger: str  # ...when a person picked them (the admin's selection)


ACTIONS = {
    "retry": _Action(RETRY_FROM, None, PipelinePass.Trigger.BULK_RETRY, PipelinePass.Trigger.RETRY),
    "rerun": _Action(
        RERUN_FROM, Stage.INTAKE, PipelinePass.Trigger.BULK_RERUN, PipelinePass.Trigger.RERUN
    ),
}


_ACTIVE = Deal.HubspotState.ACTIVE


@dataclass(frozen=True)
class SelectionResult:
    count: int  # deals started again
    # Deals the action did not take: an active one by its status, an archived or merged
    # one by that state (as the counts have them). By filter: the archived and merged
    # ones the filter selects, both keys always there; a selection: only what was skipped.
    skipped: dict[str, int]


def deals_bulk_action(
    *,
    action: str,
    status: str = "",
    stage: str = "",
    q: str = "",
    hubspot_state: str = _ACTIVE,
    requested_by: str,
) -> SelectionResult:
    """Start again every active deal the queue filters select that `action` applies to (a
    retry: the failed ones; a re-run: all but the running ones); says how many, and how
    many archived and merged ones the filters selected and were left alone.

    Raises InvalidInput without a filter (a slip would otherwise re-run everything) and
    when more than BULK_LIMIT deals would be started.
    """
    spec = _action(action)
    if not (status or stage or q):
        raise InvalidInput(
            "Choose a status, a stage or a search first: a bulk action applies to the "
            "deals a filter selects."
        )
    filters = {"status": status, "stage": stage, "q": q, "hubspot_state": hubspot_state}
    ids = list(
        deals_matching(**filters)
        .filter(hubspot_state=_ACTIVE, status__in=spec.from_status)
        .values_list("id", flat=True)[: BULK_LIMIT + 1]  # in no order: sorting costs
    )
    _check_limit(len(ids))
    count = _restart_many(ids, spec=spec, trigger=spec.trigger, requested_by=requested_by)
    # The default view holds active deals only: nothing to count there.
    skipped: dict[str, int] = (
        deals_inactive_matching(**filters)
        if hubspot_state != _ACTIVE
        else {Deal.HubspotState.ARCHIVED.value: 0, Deal.HubspotState.MERGED.value: 0}
    )
    return SelectionResult(count=count, skipped=skipped)


def deals_restart_selected(
    *, action: str, deal_ids: Sequence[uuid.UUID], requested_by: str
) -> SelectionResult:
    """Start again the deals a person picked (the admin's selection), those `action`
    applies to, the same way as a bulk action; says how many and which were skipped."""
    spec = _action(action)
    _check_limit(len(deal_ids))
    selected = list(
        Deal.objects.filter(id__in=deal_ids).values_list("id", "status", "hubspot_state")
    )
    ids = [
        deal_id
        for deal_id, status, state in selected
        if state == _ACTIVE and status in spec.from_status
    ]
    trigger = spec.one_by_one_trigger
    count = _restart_many(ids, spec=spec, trigger=trigger, requested_by=requested_by)
    skipped: dict[str, int] = {}
    for _, status, state in selected:
        reason = status if state == _ACTIVE else state
        if state != _ACTIVE or status not in spec.from_status:
            skipped[reason] = skipped.get(reason, 0) + 1
    # Started running (or again by someone else) meanwhile; or, rarer, deleted or merged in
    # HubSpot since it was read: counted as running, the likelier.
    if count < len(ids):
        skipped[Deal.Status.RUNNING] = skipped.get(Deal.Status.RUNNING, 0) + len(ids) - count
    return SelectionResult(count=count, skipped=skipped)


def _action(action: str) -> _Action:
    try:
        return ACTIONS[action]
    except KeyError:
        raise InvalidInput(
            f"Unknown action {action!r}; choose one of {', '.join(ACTIONS)}.", field="action"
        ) from None


def _check_limit(count: int) -> None:
    if count > BULK_LIMIT:
        raise InvalidInput(
            f"More than {BULK_LIMIT:,} deals match; a bulk action takes at most "
            f"{BULK_LIMIT:,} at a time. Narrow the filters and try again."
        )


_RESTART_SQL = """
WITH moved AS (
    UPDATE deals
    SET status = 'pending', current_stage = COALESCE(%(stage)s, current_stage),
        current_pass_id = gen_random_uuid(), enqueued_at = %(now)s, updated_at = %(now)s
    WHERE id = ANY(%(ids)s::uuid[]) AND status = ANY(%(from_status)s::text[])
        AND hubspot_state = 'active'
    RETURNING id, current_pass_id, current_stage
)
INSERT INTO pipeline_passes (id, deal_id, trigger, requested_by, started_at, from_stage, bulk_id)
SELECT current_pass_id, id, %(trigger)s, %(requested_by)s, %(now)s, current_stage, %(bulk_id)s
FROM moved
"""


def _restart_many(
    ids: Sequence[uuid.UUID], *, spec: _Action, trigger: str, requested_by: str
) -> int:
    if not ids:
        return 0
    bulk_id, now, count = uuid.uuid4(), timezone.now(), 0
    for start in range(0, len(ids), _BATCH):
        params: dict[str, Any] = {
            "ids": list(ids[start : start + _BATCH]),
            # Conditional: a deal a worker claimed since we listed it is left alone (and one
            # deleted or merged in HubSpot since).
            "from_status": list(spec.from_status),
            "stage": spec.stage,
            "now": now,
            "trigger": trigger,
            "requested_by": requested_by,
            "bulk_id": bulk_id,
        }
        with connection.cursor() as cursor:
            cursor.execute(_RESTART_SQL, params)
            count += cursor.rowcount
    if count:
        transaction.on_commit(lambda: _start_feeding(bulk_id, sent_at=now))
    logger.info(
        "deals_bulk_restarted",
        extra={"bulk_id": bulk_id, "trigger": trigger, "deals": count, "by": requested_by},
    )
    return count


def _start_feeding(bulk_id: uuid.UUID, *, sent_at: datetime) -> None:
    try:
        _send_feeder(bulk_id, after=None, sent_at=sent_at)
    except Exception as exc:  # the deals are pending: the sweeper sends them later
        logger.error("bulk_feed_failed", extra={"bulk_id": bulk_id, "error": repr(exc)})


def _send_feeder(bulk_id: uuid.UUID, *, after: uuid.UUID | None, sent_at: datetime) -> None:
    """Queue the job that sends the next page. It stands for every deal of the bulk action
    not sent yet, so it carries the action's time as its send time: while it waits in the
    lane, the sweeper counts those deals as waiting, not lost (deals/broker.py)."""
    from deals.tasks import feed_operator_lane  # tasks import services

    feed_operator_lane.apply_async(
        (str(bulk_id), after and str(after)),
        queue=OPERATOR_QUEUE,
        headers={SENT_AT_HEADER: sent_at.isoformat()},
    )


_PAGE_SQL = """
SELECT p.deal_id, d.hubspot_deal_id, d.status = 'pending' AND d.current_pass_id = p.id,
       p.started_at
FROM pipeline_passes p JOIN deals d ON d.id = p.deal_id
WHERE p.bulk_id = %(bulk_id)s AND p.deal_id > %(after)s
ORDER BY p.deal_id
LIMIT %(size)s
"""


def deals_feed_operator_lane(*, bulk_id: uuid.UUID, after: uuid.UUID | None, page_size: int) -> int:
    """Send the next page of a bulk action's deals to the operator lane (those still
    waiting on that bulk action's pass), then the feeder again behind them unless this was
    the last page; returns how many deals were sent.

    The next page goes in once workers have taken this one: a single operator's click never
    waits behind more than a page of a bulk action.
    """
    params: dict[str, Any] = {
        "bulk_id": bulk_id,
        "after": after or uuid.UUID(int=0),
        "size": page_size,
    }
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_SQL, params)
        rows = cursor.fetchall()
    sent = 0
    for deal_id, hubspot_deal_id, waiting, started_at in rows:
        if waiting:  # else: done, running, or started again by someone else meanwhile
            sent += deal_send_now(
                deal_id=deal_id,
                hubspot_deal_id=hubspot_deal_id,
                reason="bulk",
                lane=OPERATOR_QUEUE,
                sent_at=started_at,  # part of the bulk action's send (see _send_feeder)
            )
    if len(rows) == page_size:
        _send_feeder(bulk_id, after=rows[-1][0], sent_at=rows[-1][3])
    return sent
