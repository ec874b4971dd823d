"""Deal endpoints for staff and API clients: read a deal with its runs, start it again,
and page through the operator queue."""

import hashlib
import json
import time
import uuid
from collections.abc import Callable

from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils import timezone
from django.utils.http import parse_etags
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

from vcc.api import AUTH_ERRORS, ErrorSerializer
from vcc.errors import NotFound

from .models import Deal, DealWriteback, PipelineRun, Stage
from .selectors import (
    QUEUE_STAGES,
    STEP_STATUSES,
    QueueCursor,
    QueueDeal,
    QueuePage,
    deal_get_with_runs,
    deal_queue_page,
    deal_status_counts,
    deal_writeback_of,
)
from .services import deal_rerun, deal_retry


class PipelineRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineRun
        fields = ["id", "stage", "status", "attempt", "started_at", "ended_at", "error"]


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
    runs = PipelineRunSerializer(source="pipeline_runs", many=True)
    writeback = serializers.SerializerMethodField(
        help_text="The outcome's write-back to HubSpot; null when none was queued."
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "hubspot_deal_id",
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
        summary="A deal with every run of every stage",
        responses={200: DealDetailSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, deal_id: uuid.UUID) -> Response:
        deal = deal_get_with_runs(deal_id=deal_id)
        if deal is None:
            raise NotFound(f"No deal with id {deal_id}.")  # the error handler answers 404
        return Response(DealDetailSerializer(deal).data)


class _DealActionApi(APIView):
    """POST starts the deal again through `service`; 202, or 404 / 409 with the reason
    (raised by the service, answered by vcc.api.exception_handler)."""

    service: Callable[..., Deal]  # set by each endpoint below

    def post(self, request: Request, deal_id: uuid.UUID) -> Response:
        deal = self.service(deal_id=deal_id)
        data = DealAcceptedSerializer({"id": deal.id, "status": deal.status}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


_action_responses = {
    202: DealAcceptedSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
    **AUTH_ERRORS,
}


@extend_schema_view(
    post=extend_schema(
        summary="Re-run the pipeline from scratch (history is kept)",
        request=None,
        responses=_action_responses,
    )
)
class DealRerunApi(_DealActionApi):
    service = staticmethod(deal_rerun)


@extend_schema_view(
    post=extend_schema(
        summary="Retry a failed deal from the stage that failed",
        request=None,
        responses=_action_responses,
    )
)
class DealRetryApi(_DealActionApi):
    service = staticmethod(deal_retry)


# ------------------------------------------------------------------------------
# The operator queue
# ------------------------------------------------------------------------------
class QueueQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    before = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The previous page's `next_before`, verbatim; or a plain ISO timestamp "
        "(then: the deals updated strictly before it). Empty: the first page.",
    )
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


class QueueCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()


QueueQueryErrorSerializer = inline_serializer(
    "QueueQueryError",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)
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


def _queue_item(deal: QueueDeal, *, duration_ms: int | None) -> dict:
    """A deal as QueueDealSerializer documents it. Built by hand: DRF's field-by-field
    serializing of 200 deals x 4 steps cost more than both SQL queries together."""
    return {
        "id": str(deal.id),
        "hubspot_deal_id": deal.hubspot_deal_id,
        "name": deal.name,
        "status": deal.status,
        "current_stage": deal.current_stage,
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
        "duration_ms": duration_ms,
        "steps": [
            {
                "stage": step.stage,
                "status": step.status,
                "started_at": step.started_at,
                "ended_at": step.ended_at,
                "pipeline_run_id": step.pipeline_run_id and str(step.pipeline_run_id),
                "error": step.error,
            }
            for step in deal.steps
        ],
    }


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _etag_matches(etag: str, if_none_match: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): our ETag is weak, the body is not byte-for-byte.
    tags = parse_etags(if_none_match)
    return "*" in tags or any(tag.removeprefix("W/") == etag.removeprefix("W/") for tag in tags)


def _queue_response(page: QueuePage, if_none_match: str) -> HttpResponseBase:
    """The page as JSON with a weak ETag, or 304 when the client already has it.

    A running deal's duration_ms grows with the clock, so the ETag is taken over the page
    with those durations left out: a page whose deals have not changed stays 304 while
    they run (the page script advances running durations itself). Each deal is encoded
    on its own so that only a running one is encoded twice, without and with its duration.
    """
    now = timezone.now()
    items = [
        _to_json(_queue_item(deal, duration_ms=None if deal.is_open else deal.duration_ms(now=now)))
        for deal in page.deals
    ]
    next_before = _to_json(page.next_before and page.next_before.encode())

    def content() -> bytes:
        return f'{{"items":[{",".join(items)}],"next_before":{next_before}}}'.encode()

    etag = f'W/"{hashlib.blake2b(content(), digest_size=16).hexdigest()}"'
    if if_none_match and _etag_matches(etag, if_none_match):
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        for n, deal in enumerate(page.deals):
            if deal.is_open:
                items[n] = _to_json(_queue_item(deal, duration_ms=deal.duration_ms(now=now)))
        response = HttpResponse(content(), content_type="application/json")
    response["ETag"] = etag
    # Staff-only data: caches may keep it per user but must ask us before reusing it.
    response["Cache-Control"] = "private, no-cache"
    return response


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
        "queries per page. Send the ETag back as If-None-Match: 304 while nothing changed.",
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
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = deal_queue_page(**query.validated_data)
        return _queue_response(page, request.headers.get("If-None-Match", ""))

    @extend_schema(
        operation_id="queue_counts",
        summary="How many deals are in each status",
        description="One GROUP BY query over all deals; kept apart from the pages so a "
        "page stays at two queries.",
        responses={200: QueueCountsSerializer, **AUTH_ERRORS},
    )
    def counts(self, request: Request) -> Response:
        return Response(QueueCountsSerializer(deal_status_counts()).data)
