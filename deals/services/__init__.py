"""Writes to deals and their pipeline. Views, admin actions, commands, tasks and the
`hubspot` app call these; nothing else writes the `deals` and `pipeline_runs` tables.

- `enqueue`: hand deals to the pipeline's workers once the transaction commits.
- `actions`: what operators ask for (re-run, retry).
- `bulk`: the same for every deal a filter selects (or an admin's selection).
- `ingest`: deals arriving from HubSpot (sync, webhooks, imports), upserted by HubSpot id.
- `sweeper`: recovery of deals whose job was lost.
- `writeback`: the outbox of outcomes for HubSpot: claimed and settled by the write-back loop.
- `counts`: folding the deal count changes the triggers append.
"""

from .actions import deal_rerun, deal_retry
from .bulk import (
    BULK_LIMIT,
    SelectionResult,
    deals_bulk_action,
    deals_feed_operator_lane,
    deals_restart_selected,
)
from .counts import deal_counts_fold
from .enqueue import deal_enqueue, deal_send_now, deals_enqueue, deals_send_now
from .ingest import DealFromHubspot, RejectedDeal, UpsertResult, deals_upsert_from_hubspot
from .lifecycle import deals_archive, deals_restore
from .sweeper import SweepResult, deals_sweep_stuck
from .writeback import (
    Claim,
    OutcomeToSend,
    deal_writebacks_claim,
    deal_writebacks_mark_failed,
    deal_writebacks_mark_sent,
    deal_writebacks_retry,
)

__all__ = [
    "BULK_LIMIT",
    "Claim",
    "DealFromHubspot",
    "OutcomeToSend",
    "RejectedDeal",
    "SelectionResult",
    "SweepResult",
    "UpsertResult",
    "deal_counts_fold",
    "deal_enqueue",
    "deal_rerun",
    "deal_retry",
    "deal_send_now",
    "deal_writebacks_claim",
    "deal_writebacks_mark_failed",
    "deal_writebacks_mark_sent",
    "deal_writebacks_retry",
    "deals_archive",
    "deals_bulk_action",
    "deals_enqueue",
    "deals_feed_operator_lane",
    "deals_restart_selected",
    "deals_restore",
    "deals_send_now",
    "deals_sweep_stuck",
    "deals_upsert_from_hubspot",
]
