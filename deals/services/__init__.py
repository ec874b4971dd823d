"""Writes to deals and their pipeline. Views, admin actions, commands, tasks and the
`hubspot` app call these; nothing else writes the `deals` and `pipeline_runs` tables.

- `enqueue`: hand deals to the pipeline's workers once the transaction commits.
- `actions`: what operators ask for (re-run, retry).
- `ingest`: deals arriving from HubSpot (sync, webhooks, imports), upserted by HubSpot id.
- `sweeper`: recovery of deals whose job was lost.
"""

from .actions import deal_rerun, deal_retry
from .enqueue import deal_enqueue, deal_send_now, deals_enqueue, deals_send_now
from .ingest import DealFromHubspot, RejectedDeal, UpsertResult, deals_upsert_from_hubspot
from .sweeper import SweepResult, deals_sweep_stuck

__all__ = [
    "DealFromHubspot",
    "RejectedDeal",
    "SweepResult",
    "UpsertResult",
    "deal_enqueue",
    "deal_rerun",
    "deal_retry",
    "deal_send_now",
    "deals_enqueue",
    "deals_send_now",
    "deals_sweep_stuck",
    "deals_upsert_from_hubspot",
]
