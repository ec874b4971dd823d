"""Bulk actions on the operator queue: how many deals the queue's filters select for each
action, and starting them all again (retry or re-run), through the operator lane."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS, MEDIA_ERRORS
from vcc.permissions import require_permission

from .queue_apis import QueueFilterSerializer
from .selectors import deals_bulk_preview
from .services import BULK_LIMIT, deals_bulk_action


class StrictCharField(serializers.CharField):
    """A JSON string, nothing else (DRF's CharField would take 12 or true as "12", "True")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BulkActionSerializer(QueueFilterSerializer):
    q = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="A HubSpot deal id prefix, or a part of the name (any case).",
    )
    action = serializers.ChoiceField(
        choices=[
            ("retry", "Retry the failed deals from the stage that failed"),
            ("rerun", "Re-run every deal but the running ones from scratch"),
        ]
    )


class BulkPreviewSerializer(serializers.Serializer):
    retry = serializers.IntegerField(help_text="Failed deals the filters select.")
    rerun = serializers.IntegerField(help_text="Deals the filters select that are not running.")
    limit = serializers.IntegerField(
        help_text="The most one request may start; a count above it means more than that."
    )


class BulkSkippedSerializer(serializers.Serializer):
    archived = serializers.IntegerField(help_text="Selected, but deleted in HubSpot.")
    merged = serializers.IntegerField(help_text="Selected, but merged into another in HubSpot.")


class BulkAcceptedSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many deals were started again.")
    skipped = BulkSkippedSerializer(
        help_text="Deals the filters select that were left alone as they are not active in "
        "HubSpot (with the default `hubspot_state`, active, none are selected)."
    )


BulkActionErrorSerializer = inline_serializer(
    "BulkActionError",
    fields={
        "detail": serializers.CharField(required=False),
        **{
            name: serializers.ListField(child=serializers.CharField(), required=False)  # type: ignore[misc]  # drf-stubs: iterating fields gives names
            for name in BulkActionSerializer().fields
        },
    },
)


class QueueActionsApi(APIView):
    # A POST needs the permission of the action it asks for (checked once the body is read).
    required_permissions = {
        "GET": "deals.view_deal",
        "POST": ("deals.rerun_deal", "deals.retry_deal"),
    }

    @extend_schema(
        operation_id="queue_actions_preview",
        summary="How many deals each bulk action would start again, with these filters",
        description=f"Counts stop past {BULK_LIMIT:,}: a bulk action takes at most that many.",
        parameters=[QueueFilterSerializer],
        responses={200: BulkPreviewSerializer, 400: BulkActionErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = QueueFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        counts = deals_bulk_preview(
            status=query.validated_data.get("status", ""),
            stage=query.validated_data.get("stage", ""),
            q=query.validated_data.get("q", ""),
            hubspot_state=query.validated_data["hubspot_state"],
            limit=BULK_LIMIT,
        )
        return Response(BulkPreviewSerializer({**counts, "limit": BULK_LIMIT}).data)

    @extend_schema(
        operation_id="queue_actions_start",
        summary="Retry or re-run every deal the filters select, ahead of the backlog",
        description=(
            "A retry takes the failed deals, a re-run every deal but the running ones; only "
            "deals active in HubSpot, whatever `hubspot_state` selects (the others are "
            f"counted in `skipped`). At most {BULK_LIMIT:,} deals a request, and at least one "
            "filter besides `hubspot_state`. The deals are "
            "pending with a new pass when this answers; workers take them through the "
            "operator lane, a page at a time."
        ),
        request=BulkActionSerializer,
        responses={
            202: BulkAcceptedSerializer,
            400: BulkActionErrorSerializer,
            **AUTH_ERRORS,
            **MEDIA_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        body = BulkActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_permission(request, f"deals.{body.validated_data['action']}_deal")
        result = deals_bulk_action(
            action=body.validated_data["action"],
            status=body.validated_data.get("status", ""),
            stage=body.validated_data.get("stage", ""),
            q=body.validated_data.get("q", ""),
            hubspot_state=body.validated_data["hubspot_state"],
            requested_by=request.user.get_username(),
        )
        answer = BulkAcceptedSerializer({"count": result.count, "skipped": result.skipped})
        return Response(answer.data, status.HTTP_202_ACCEPTED)
