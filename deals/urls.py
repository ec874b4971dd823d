from django.urls import path

from . import apis

urlpatterns = [
    path("deals/<uuid:deal_id>/", apis.DealDetailApi.as_view(), name="deal-detail"),
    path("deals/<uuid:deal_id>/process/", apis.DealProcessApi.as_view(), name="deal-process"),
    path("deals/<uuid:deal_id>/retry/", apis.DealRetryApi.as_view(), name="deal-retry"),
    path("queue/deals/", apis.DealQueueViewSet.as_view({"get": "page"}), name="queue-deals"),
    path("queue/counts/", apis.DealQueueViewSet.as_view({"get": "counts"}), name="queue-counts"),
]
