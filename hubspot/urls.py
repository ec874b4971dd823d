from django.urls import path

from . import apis

urlpatterns = [
    path("sync/runs/", apis.SyncRunListApi.as_view(), name="sync-run-list"),
    path("sync/runs/<uuid:run_id>/", apis.SyncRunDetailApi.as_view(), name="sync-run-detail"),
    path("webhooks/hubspot/", apis.HubspotWebhookApi.as_view(), name="hubspot-webhook"),
    path("imports/", apis.DealImportListApi.as_view(), name="deal-import-list"),
    path(
        "imports/<uuid:import_id>/", apis.DealImportDetailApi.as_view(), name="deal-import-detail"
    ),
    path("sync/health/", apis.SyncHealthApi.as_view(), name="sync-health"),
]
