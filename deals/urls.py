from django.urls import path

from . import apis, bulk_apis, insights_apis, queue_apis

urlpatterns = [
    path("deals/<uuid:deal_id>/", apis.DealDetailApi.as_view(), name="deal-detail"),
    path("deals/<uuid:deal_id>/rerun/", apis.DealRerunApi.as_view(), name="deal-rerun"),
    # The seed system's name for a re-run, kept for its clients until the next release.
    path(
        "deals/<uuid:deal_id>/process/",
        apis.DealRerunUnderOldNameApi.as_view(),
        name="deal-rerun-process",
    ),
    path("deals/<uuid:deal_id>/retry/", apis.DealRetryApi.as_view(), name="deal-retry"),
    path("runs/<uuid:run_id>/", apis.PipelineRunDetailApi.as_view(), name="run-detail"),
    path("queue/deals/", queue_apis.DealQueueViewSet.as_view({"get": "page"}), name="queue-deals"),
    path(
        "queue/counts/", queue_apis.DealQueueViewSet.as_view({"get": "counts"}), name="queue-counts"
    ),
    path("insights/", insights_apis.InsightsApi.as_view(), name="insights"),
    path("queue/actions/", bulk_apis.QueueActionsApi.as_view(), name="queue-actions"),
]
