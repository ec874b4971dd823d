"""Sync runs for staff and API clients: start a sync, watch its progress, list recent ones."""

import uuid

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS, ErrorSerializer, PagingErrorSerializer, StrictCursorPagination
from vcc.errors import NotFound

from ..models import COUNT_FIELDS, SyncRun
from ..selectors import sync_run_get, sync_runs_recent
from ..services import sync_run_request


class ProgressSerializer(serializers.Serializer):
    current = serializers.IntegerField(source="progress_current")
    total = serializers.IntegerField(source="progress_total", allow_null=True)
    message = serializers.CharField(source="progress_message")


class SyncRunSerializer(serializers.ModelSerializer):
    progress = ProgressSerializer(source="*")
    rate_limited = serializers.IntegerField(help_text="429 answers met (and waited out)")

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "trigger",
            "status",
            "window_start",
            "window_end",
            "created_at",
            "started_at",
            "finished_at",
            *COUNT_FIELDS,
            "error",
            "progress",
        ]


class SyncRunAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SyncRun.Status.choices)
    status_url = serializers.URLField()
    created = serializers.BooleanField(help_text="false: a sync was already in flight")


class SyncRunPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    max_page_size = 100


class SyncRunListApi(generics.ListAPIView):
    serializer_class = SyncRunSerializer
    pagination_class = SyncRunPagination

    def get_queryset(self) -> QuerySet[SyncRun]:
        return sync_runs_recent()

    @extend_schema(
        summary="Recent syncs, newest first",
        responses={
            200: SyncRunSerializer(many=True),
            400: PagingErrorSerializer,
            404: ErrorSerializer,
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start a sync now (or get the one already in flight; never a second)",
        request=None,
        responses={202: SyncRunAcceptedSerializer, 503: ErrorSerializer, **AUTH_ERRORS},
    )
    def post(self, request: Request) -> Response:
        run, created = sync_run_request(trigger=SyncRun.Trigger.MANUAL)
        url = reverse("sync-run-detail", kwargs={"run_id": run.id}, request=request)
        data = {"id": run.id, "status": run.status, "status_url": url, "created": created}
        return Response(SyncRunAcceptedSerializer(data).data, status=status.HTTP_202_ACCEPTED)


class SyncRunDetailApi(APIView):
    @extend_schema(
        summary="One sync, with its progress",
        responses={200: SyncRunSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, run_id: uuid.UUID) -> Response:
        run = sync_run_get(run_id=run_id)
        if run is None:
            raise NotFound(f"No sync run with id {run_id}.")
        return Response(SyncRunSerializer(run).data)
