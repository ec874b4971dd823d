"""Every write of the `deals` app's tables (deals, pipeline_passes, pipeline_runs,
deal_writebacks, the count tables). Views, admin actions, commands, tasks, the pipeline
runner and the `hubspot` app call these; nothing else writes them.

- `passes`, `runs`: a deal's passes and the runner's record of each stage (deals/pipeline.py
  decides what to run; these write it).
- `enqueue`: hand deals to the pipeline's workers once the transaction commits.
- `actions`: what operators ask for (re-run, retry).
- `bulk`: the same for every deal a filter selects (or an admin's selection).
- `ingest`: deals arriving from HubSpot (sync, webhooks, imports), upserted by HubSpot id.
- `sweeper`: recovery of deals whose job was lost.
- `writeback`: the outbox of outcomes for HubSpot: queued as a deal finishes, claimed and
  settled by the write-back loop.
- `counts`: folding the deal count changes the triggers append.
- `retention`: clearing old runs' log lines.
- `insights`: the insights' rollups (the triggers' changes folded).
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
from .insights import insights_fold, insights_summaries_rebuild
from .lifecycle import deals_archive, deals_merge, deals_restore
from .retention import pipeline_runs_clear_old_logs
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
    "deals_merge",
    "deals_restart_selected",
    "deals_restore",
    "deals_send_now",
    "deals_sweep_stuck",
    "deals_upsert_from_hubspot",
    "insights_fold",
    "insights_summaries_rebuild",
    "pipeline_runs_clear_old_logs",
]
