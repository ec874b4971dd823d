from django.urls import path

from . import apis

urlpatterns = [
    path("sync/runs/", apis.SyncRunListApi.as_view(), name="sync-run-list"),
    path("sync/runs/<uuid:run_id>/", apis.SyncRunDetailApi.as_view(), name="sync-run-detail"),
]
