"""Sync runs for staff and API clients: start a sync, watch its progress, list recent ones."""

import uuid

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS, ErrorSerializer, PagingErrorSerializer, StrictCursorPagination
from vcc.errors import NotFound

from ..models import COUNT_FIELDS, REJECTIONS_KEPT, SyncRun
from ..quota import DailyStatus
from ..selectors import HEALTH_CODES, sync_health, sync_run_get, sync_runs_recent
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


class SyncRejectionSerializer(serializers.Serializer):
    hubspot_deal_id = serializers.CharField()
    reason = serializers.CharField()


class SyncRunDetailSerializer(SyncRunSerializer):
    rejected = SyncRejectionSerializer(
        source="rejections",
        many=True,
        help_text=f"The records it rejected, and why: the first {REJECTIONS_KEPT:,}.",
    )
    rejected_not_listed = serializers.SerializerMethodField(
        help_text="Rejected records past those listed (`invalid` counts them all)."
    )

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "rejected", "rejected_not_listed"]

    def get_rejected_not_listed(self, run: SyncRun) -> int:
        return max(0, run.invalid - len(run.rejections.all()))


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
    required_permissions = {"GET": "hubspot.view_syncrun", "POST": "hubspot.start_sync"}
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
    required_permissions = {"GET": "hubspot.view_syncrun"}

    @extend_schema(
        summary="One sync, with its progress and the records it rejected",
        responses={200: SyncRunDetailSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, run_id: uuid.UUID) -> Response:
        run = sync_run_get(run_id=run_id)
        if run is None:
            raise NotFound(f"No sync run with id {run_id}.")
        return Response(SyncRunDetailSerializer(run).data)


class LastSyncSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices)
    status = serializers.ChoiceField(choices=SyncRun.Status.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    new = serializers.IntegerField()
    updated = serializers.IntegerField()
    restarted = serializers.IntegerField(
        help_text="Failed or done deals a HubSpot change sent round the pipeline again."
    )
    invalid = serializers.IntegerField()
    error = serializers.CharField()
    progress = ProgressSerializer(source="*")


class LastReconcileSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices)
    status = serializers.ChoiceField(choices=SyncRun.Status.choices)
    finished_at = serializers.DateTimeField(allow_null=True)
    checked = serializers.IntegerField(source="fetched")
    archived = serializers.IntegerField()
    restored = serializers.IntegerField()
    merged = serializers.IntegerField()
    requests = serializers.IntegerField()
    error = serializers.CharField()


class DailyLimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        allow_null=True, help_text="The account's daily API calls, as HubSpot last said."
    )
    remaining = serializers.IntegerField(
        allow_null=True, help_text="Calls left today, as HubSpot last said; null: unknown."
    )
    reported_at = serializers.DateTimeField(
        source="at", allow_null=True, help_text="When HubSpot said these figures."
    )
    reached = serializers.SerializerMethodField(
        help_text="True while HubSpot's daily limit is reached: no call is sent until resume_at."
    )
    resume_at = serializers.DateTimeField(
        source="stopped_until", allow_null=True, help_text="When calls resume, while reached."
    )

    def get_reached(self, status: DailyStatus) -> bool:
        return status.stopped_until is not None


class HealthReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=HEALTH_CODES)
    severity = serializers.ChoiceField(choices=["degraded", "failing"])
    message = serializers.CharField()


class SyncHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "failing"],
        help_text="The system's health: failing when any reason is, degraded when any is.",
    )
    reasons = HealthReasonSerializer(many=True, help_text="What is wrong, worst first.")
    last_sync = LastSyncSerializer(
        allow_null=True, help_text="The latest sync that ran or is running (skips left out)."
    )
    last_reconcile = LastReconcileSerializer(
        allow_null=True,
        help_text="The latest finished reconcile (reconcile_hubspot): deletions, restores "
        "and merges found by reading our deals back.",
    )
    last_success_at = serializers.DateTimeField(
        allow_null=True, help_text="When the latest successful sync finished."
    )
    next_due_at = serializers.DateTimeField(
        allow_null=True, help_text="When beat runs the next scheduled sync; null: unknown."
    )
    schedule = serializers.CharField(help_text="The schedule, in words.")
    failing = serializers.BooleanField(
        help_text="HubSpot's daily limit is reached, the last sync failed, none "
        "succeeded in three poll intervals, or the last reconcile failed."
    )
    problem = serializers.CharField(allow_null=True, help_text="What is wrong, when failing.")
    daily_limit = DailyLimitSerializer(source="daily", help_text="HubSpot's daily API limit.")
    failed_webhook_events = serializers.IntegerField(
        help_text="Webhook events HubSpot refused to read too often, marked failed with the "
        "reason (admin: webhook events, status failed)."
    )


class SyncHealthApi(APIView):
    required_permissions = {"GET": "hubspot.view_syncrun"}

    @extend_schema(
        summary="The system's health (ok, degraded, failing, with each reason) and "
        "ingestion at a glance: the last sync, the next one due",
        description="Cheap enough to poll with the queue page (a few indexed reads).",
        responses={200: SyncHealthSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request) -> Response:
        response = Response(SyncHealthSerializer(sync_health(now=timezone.now())).data)
        response["Cache-Control"] = "private, no-cache"
        return response
