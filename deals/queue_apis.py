"""The operator queue's endpoints: pages of deals with their stage progress (keyset paged,
ETag and 304), and the counts by status; the queue's filters, which the bulk actions
(bulk_apis) take too."""

import time

from django.http import HttpResponseBase, QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from vcc.api import AUTH_ERRORS, QueryIntegerField

from .apis import DealActionsSerializer
from .models import Deal, Stage
from .queue_format import queue_page_response
from .queue_selectors import (
    ALL_STATES,
    QUEUE_STAGES,
    STEP_STATUSES,
    QueueCursor,
    deal_queue_select,
)
from .selectors import deal_counts
from .services import deal_counts_fold


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
    hubspot_state = serializers.ChoiceField(
        choices=[
            (Deal.HubspotState.ACTIVE, "Active in HubSpot"),
            (Deal.HubspotState.ARCHIVED, "Deleted in HubSpot"),
            (Deal.HubspotState.MERGED, "Merged into another deal in HubSpot"),
            (ALL_STATES, "Every deal, whatever its state in HubSpot"),
        ],
        required=False,
        allow_blank=True,
        default=Deal.HubspotState.ACTIVE,
        help_text="The deals' state in HubSpot; absent or empty: active.",
    )

    def validate_hubspot_state(self, value: str) -> str:
        return value or Deal.HubspotState.ACTIVE


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
    hubspot_state = serializers.ChoiceField(choices=Deal.HubspotState.choices)
    merged_into_hubspot_deal_id = serializers.CharField(
        allow_null=True,
        help_text="The HubSpot id of the deal it was merged into; null unless merged.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField(
        allow_null=True,
        help_text="First run's start to the latest run's end, or to now while it runs; "
        "null before the first run.",
    )
    steps = QueueStepSerializer(many=True, help_text="Exactly four, in pipeline order.")
    actions = DealActionsSerializer()


class QueuePageSerializer(serializers.Serializer):
    items = QueueDealSerializer(many=True)
    next_before = serializers.CharField(
        allow_null=True, help_text="Pass as `before` for the next page; null on the last page."
    )


# Change rows a counts read may sum before it folds them itself (bounds the read's cost).
FOLD_AFTER_CHANGES = 1000


class QueueCountsSerializer(serializers.Serializer):
    """Active deals by status; the ones deleted or merged in HubSpot apart."""

    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Active deals: the four statuses above.")
    archived = serializers.IntegerField(help_text="Deals deleted in HubSpot, whatever status.")
    merged = serializers.IntegerField(help_text="Deals merged into another one in HubSpot.")
    stages = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Active deals at each current stage (every stage present, zero when none).",
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


def _queue_query(query_string: str) -> dict:
    """The page's parameters, validated: 400 naming the field when one is wrong. (Caching
    this per query string saved about a tenth of a request, under bench/queue_layers.py's
    fifth: it went.)"""
    query = QueueQuerySerializer(data=QueryDict(query_string))
    query.is_valid(raise_exception=True)
    return query.validated_data


class DealQueueViewSet(viewsets.ViewSet):
    """The operator queue: pages of deals with their stage progress, and counts by status."""

    required_permissions = {"GET": "deals.view_deal"}

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
        query = _queue_query(request.META.get("QUERY_STRING", ""))
        selection = deal_queue_select(**query)
        return queue_page_response(
            selection=selection,
            hubspot_state=query["hubspot_state"],
            if_none_match=request.META.get("HTTP_IF_NONE_MATCH", ""),
            # Browsers get DRF's browsable page (where it is enabled), clients the JSON.
            browsable=request.accepted_renderer.format != "json",
            now=timezone.now(),
        )

    @extend_schema(
        operation_id="queue_counts",
        summary="How many active deals are in each status and at each current stage, and "
        "how many were deleted or merged in HubSpot",
        description="Counters kept by the database in the same transaction as every "
        "status, stage or HubSpot state change: exact, and one small query whatever the "
        "number of deals. Kept apart from the pages so a page stays at two queries.",
        responses={200: QueueCountsSerializer, **AUTH_ERRORS},
    )
    def counts(self, request: Request) -> Response:
        counts = deal_counts()
        if counts.unfolded >= FOLD_AFTER_CHANGES:
            deal_counts_fold()  # between two beat folds, a busy pipeline: keep reads small
        # Plain values already: the serializer documents them, it need not copy them.
        return Response(
            {
                **counts.by_status,
                "total": counts.total,
                **counts.inactive,
                "stages": counts.by_stage,
            }
        )
