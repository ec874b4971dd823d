"""Writes of the HubSpot app, one module per way in or out:

- `sync`: the poller and manual syncs (SyncRun).
- `webhooks`: deal events HubSpot sends, recorded, then their deals read and upserted.
- `imports`: bulk import by HubSpot deal id, with a status per id.
- `payloads`: the HubSpot JSON last fetched for each deal, and its expiry.
- `writeback`: deals' outcomes sent back to HubSpot.
- `reconcile`: deletions, restores and merges found by reading our deals back.
- `alerts`: health alerts by mail to ADMINS.

Deals themselves are written only through `deals.services` (via hubspot/ingest.py).
"""

from .alerts import AlertResult, health_alerts_send
from .imports import (
    deal_import_create,
    deal_import_run,
    deal_imports_resume_stalled,
    import_ids_from_file,
    import_ids_validate,
)
from .payloads import deal_payloads_delete_old, deal_payloads_store
from .reconcile import reconcile_run_execute, reconcile_run_start
from .sync import (
    SyncLockLost,
    sync_plan,
    sync_run_claim,
    sync_run_execute,
    sync_run_request,
    sync_run_start,
    sync_runs_delete_old,
    sync_runs_expire_stale,
    sync_window,
)
from .webhooks import (
    WebhookProcessResult,
    webhook_events_delete_old,
    webhook_events_process,
    webhook_events_record,
)
from .writeback import WritebackPassResult, writeback_pass

__all__ = [
    "AlertResult",
    "SyncLockLost",
    "WebhookProcessResult",
    "WritebackPassResult",
    "deal_import_create",
    "deal_import_run",
    "deal_imports_resume_stalled",
    "deal_payloads_delete_old",
    "deal_payloads_store",
    "health_alerts_send",
    "import_ids_from_file",
    "import_ids_validate",
    "reconcile_run_execute",
    "reconcile_run_start",
    "sync_plan",
    "sync_run_claim",
    "sync_run_execute",
    "sync_run_request",
    "sync_run_start",
    "sync_runs_delete_old",
    "sync_runs_expire_stale",
    "sync_window",
    "webhook_events_delete_old",
    "webhook_events_process",
    "webhook_events_record",
    "writeback_pass",
]
