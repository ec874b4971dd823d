"""The HubSpot app's endpoints: syncs (sync.py), webhooks (webhooks.py), imports (imports.py)."""

from .imports import DealImportDetailApi, DealImportListApi
from .sync import SyncHealthApi, SyncRunDetailApi, SyncRunListApi
from .webhooks import HubspotWebhookApi

__all__ = [
    "DealImportDetailApi",
    "DealImportListApi",
    "HubspotWebhookApi",
    "SyncHealthApi",
    "SyncRunDetailApi",
    "SyncRunListApi",
]
