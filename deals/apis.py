"""Deal endpoints for staff and API clients: read a deal with its runs, start it again,
and page through the operator queue."""

import functools
import time
import uuid

from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified, QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS, ErrorSerializer, QueryIntegerField
from vcc.errors import NotFound

from .models import Deal, DealWriteback, PipelinePass, PipelineRun, Stage
from .queue_format import (
    RecentPages,
    etag_matches,
    queue_etag,
    queue_page_data,
)
from .selectors import (
    QUEUE_STAGES,
    STEP_STATUSES,
    QueueCursor,
    deal_counts,
    deal_get_with_runs,
    deal_queue_page_from,
    deal_queue_select,
    deal_writeback_of,
)
from .services import deal_counts_fold, deal_rerun, deal_retry


class PipelineRunSerializer(serializers.ModelSerializer):
    pass_id = serializers.UUIDField(source="pipeline_pass_id", help_text="The pass it ran in.")

    class Meta:
        model = PipelineRun
        fields = ["id", "pass_id", "stage", "status", "attempt", "started_at", "ended_at", "error"]


class PipelinePassSerializer(serializers.ModelSerializer):
    trigger_label = serializers.CharField(source="get_trigger_display")
    requested_by = serializers.CharField(help_text="Who asked for it; empty: the system.")

    class Meta:
        model = PipelinePass
        fields = ["id", "trigger", "trigger_label", "requested_by", "started_at", "from_stage"]


class DealWritebackSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealWriteback
        fields = [
            "state",
            "outcome_status",
            "outcome_stage",
            "finished_at",
            "retry_count",
            "next_retry_at",
            "last_error",
            "queued_at",
            "sent_at",
        ]


class DealDetailSerializer(serializers.ModelSerializer):
    runs = PipelineRunSerializer(
        source="pipeline_runs", many=True, help_text="Every run of every stage, oldest first."
    )
    passes = PipelinePassSerializer(
        many=True,
        help_text="Every pass through the pipeline, newest first: what started it, who, when; "
        "each run names its pass.",
    )
    writeback = serializers.SerializerMethodField(
        help_text="The outcome's write-back to HubSpot; null when none was queued."
    )
    merged_into_hubspot_deal_id = serializers.CharField(
        source="merged_into.hubspot_deal_id",
        allow_null=True,
        read_only=True,
        default=None,
        help_text="The HubSpot id of the deal this one was merged into; null unless merged.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "hubspot_deal_id",
            "hubspot_state",
            "hubspot_state_at",
            "merged_into_hubspot_deal_id",
            "name",
            "amount",
            "deal_stage",
            "hubspot_created_at",
            "hubspot_checked_in_at",
            "status",
            "current_stage",
            "created_at",
            "updated_at",
            "writeback",
            "passes",
            "runs",
        ]

    @extend_schema_field(DealWritebackSerializer(allow_null=True))
    def get_writeback(self, deal: Deal) -> dict | None:
        writeback = deal_writeback_of(deal)
        return DealWritebackSerializer(writeback).data if writeback else None


class DealAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Deal.Status.choices)


class DealDetailApi(APIView):
    @extend_schema(
        summary="A deal with its passes through the pipeline and every run of every stage",
        responses={200: DealDetailSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, deal_id: uuid.UUID) -> Response:
        deal = deal_get_with_runs(deal_id=deal_id)
        if deal is None:
            raise NotFound(f"No deal with id {deal_id}.")  # the error handler answers 404
        return Response(DealDetailSerializer(deal).data)


_action_responses = {
    202: DealAcceptedSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
    **AUTH_ERRORS,
}


def _accepted(deal: Deal) -> Response:
    data = DealAcceptedSerializer({"id": deal.id, "status": deal.status}).data
    return Response(data, status=status.HTTP_202_ACCEPTED)


class DealRerunApi(APIView):
    @extend_schema(
        summary="Re-run the pipeline from scratch, ahead of the backlog (history is kept)",
        request=None,
        responses=_action_responses,
    )
    def post(self, request: Request, deal_id: uuid.UUID) -> Response:
        # 404 / 409 with the reason are raised by the service (vcc.api.exception_handler).
        return _accepted(deal_rerun(deal_id=deal_id, requested_by=request.user.get_username()))


@extend_schema_view(
    post=extend_schema(
        summary="Re-run (the old path, `process/`: use `rerun/`; removed in the next release)",
        deprecated=True,
    )
)
class DealRerunUnderOldNameApi(DealRerunApi):
    pass


class DealRetryApi(APIView):
    @extend_schema(
        summary="Retry a failed deal from the stage that failed, ahead of the backlog",
        request=None,
        responses=_action_responses,
    )
    def post(self, request: Request, deal_id: uuid.UUID) -> Response:
        return _accepted(deal_retry(deal_id=deal_id, requested_by=request.user.get_username()))


# ------------------------------------------------------------------------------
# The operator queue
# ------------------------------------------------------------------------------
class QueueFilterSerializer(serializers.Serializer):
    """The queue page's filters: its pages (below) and the bulk actions (bulk_apis) take them."""

    status = serializers.ChoiceField(choices=Deal.Status.choices, required=False, allow_blank=True)
    stage = serializers.ChoiceField(
        choices=Stage.choices, required=False, allow_blank=True, help_text="The current stage."
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="A HubSpot deal id prefix, or a part of the name (any case).",
    )


class QueueQuerySerializer(QueueFilterSerializer):
    limit = QueryIntegerField(min_value=1, max_value=200, default=50)
    before = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The previous page's `next_before`, verbatim; or a plain ISO timestamp "
        "(then: the deals updated strictly before it). Empty: the first page.",
    )

    def validate_before(self, value: str) -> QueueCursor | None:
        if not value:
            return None
        try:
            return QueueCursor.decode(value)
        except ValueError as exc:
            raise serializers.ValidationError(
                "Not a cursor from `next_before` nor an ISO timestamp."
            ) from exc


class QueueStepSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=QUEUE_STAGES)
    status = serializers.ChoiceField(choices=STEP_STATUSES)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    pipeline_run_id = serializers.UUIDField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Only when the stage failed.")


class QueueDealSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    hubspot_deal_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Deal.Status.choices)
    current_stage = serializers.ChoiceField(choices=Stage.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField(
        allow_null=True,
        help_text="First run's start to the latest run's end, or to now while it runs; "
        "null before the first run.",
    )
    steps = QueueStepSerializer(many=True, help_text="Exactly four, in pipeline order.")


class QueuePageSerializer(serializers.Serializer):
    items = QueueDealSerializer(many=True)
    next_before = serializers.CharField(
        allow_null=True, help_text="Pass as `before` for the next page; null on the last page."
    )


# Change rows a counts read may sum before it folds them itself (bounds the read's cost).
FOLD_AFTER_CHANGES = 1000


class QueueCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()
    stages = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Deals at each current stage (every stage present, zero when none).",
    )


QueueQueryErrorSerializer = inline_serializer(
    "QueueQueryError",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)  # type: ignore[misc]  # drf-stubs: iterating fields gives names
        for name in QueueQuerySerializer().fields
    },
)
_etag_header = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 304],
    description="Changes whenever a value on the page changes; send it back as If-None-Match.",
)


def _with_cache_headers(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    response["ETag"] = etag
    # Staff-only data: caches may keep it per user but must ask us before reusing it.
    response["Cache-Control"] = "private, no-cache"
    return response


@functools.lru_cache(maxsize=1024)
def _queue_query(query_string: str) -> dict:
    """The page's parameters, validated once per query string: pollers send the same one
    every 2 s, and building DRF's serializer fields each time costs as much as the SQL.
    Invalid ones raise (400 naming the field) and are not remembered."""
    query = QueueQuerySerializer(data=QueryDict(query_string))
    query.is_valid(raise_exception=True)
    return query.validated_data  # values immutable: ints, strings, a frozen QueueCursor


# Pages built lately, shared by the pollers that ask for the same one (queue_format).
_recent_pages = RecentPages()


class DealQueueViewSet(viewsets.ViewSet):
    """The operator queue: pages of deals with their stage progress, and counts by status."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        self._started = time.perf_counter()  # Server-Timing spans authentication onwards
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if hasattr(self, "_started"):
            elapsed_ms = (time.perf_counter() - self._started) * 1000
            response["Server-Timing"] = f"app;dur={elapsed_ms:.2f}"
        return response

    @extend_schema(
        operation_id="queue_deals_page",
        summary="A page of the operator queue, newest updated first",
        description="Keyset paging: pass `next_before` back as `before`. Exactly two SQL "
        "queries per page. Send the ETag back as If-None-Match: 304 while nothing on the "
        "page changed, decided on the first query alone.",
        parameters=[
            QueueQuerySerializer,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of the page the client has.",
            ),
            _etag_header,
        ],
        responses={
            200: QueuePageSerializer,
            304: OpenApiResponse(description="Not modified: the page is as the client has it."),
            400: QueueQueryErrorSerializer,
            **AUTH_ERRORS,
        },
    )
    def page(self, request: Request) -> HttpResponseBase:
        selection = deal_queue_select(**_queue_query(request.META.get("QUERY_STRING", "")))
        # Browsers get DRF's browsable page (where it is enabled), clients the JSON.
        html = request.accepted_renderer.format != "json"
        etag = queue_etag(selection, variant="html" if html else "")
        if etag_matches(etag, request.META.get("HTTP_IF_NONE_MATCH", "")):
            # Decided on the first query alone: no runs read, no body built.
            return _with_cache_headers(HttpResponseNotModified(), etag)
        if html:
            page = deal_queue_page_from(selection=selection)
            return _with_cache_headers(Response(queue_page_data(page, now=timezone.now())), etag)
        body = _recent_pages.body(
            etag, lambda: deal_queue_page_from(selection=selection), now=timezone.now()
        )
        return _with_cache_headers(HttpResponse(body, content_type="application/json"), etag)

    @extend_schema(
        operation_id="queue_counts",
        summary="How many deals are in each status and at each current stage",
        description="Counters kept by the database in the same transaction as every "
        "status or stage change: exact, and one small query whatever the number of deals. "
        "Kept apart from the pages so a page stays at two queries.",
        responses={200: QueueCountsSerializer, **AUTH_ERRORS},
    )
    def counts(self, request: Request) -> Response:
        counts = deal_counts()
        if counts.unfolded >= FOLD_AFTER_CHANGES:
            deal_counts_fold()  # between two beat folds, a busy pipeline: keep reads small
        # Plain values already: the serializer documents them, it need not copy them.
        return Response({**counts.by_status, "total": counts.total, "stages": counts.by_stage})
