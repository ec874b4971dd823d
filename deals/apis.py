"""Deal endpoints for staff and API clients: read a deal with its runs, start it again."""

import uuid

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Deal, PipelineRun
from .selectors import deal_get_with_runs
from .services import DealConflict, DealNotFound, deal_rerun, deal_retry


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The deal is not in a state that allows this action."
    default_code = "conflict"


ErrorSerializer = inline_serializer("Error", fields={"detail": serializers.CharField()})


class PipelineRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineRun
        fields = ["id", "stage", "status", "attempt", "started_at", "ended_at", "error"]


class DealDetailSerializer(serializers.ModelSerializer):
    runs = PipelineRunSerializer(source="pipeline_runs", many=True)

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
            "runs",
        ]


class DealAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Deal.Status.choices)


class DealDetailApi(APIView):
    @extend_schema(
        summary="A deal with every run of every stage",
        responses={200: DealDetailSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, deal_id: uuid.UUID) -> Response:
        deal = deal_get_with_runs(deal_id=deal_id)
        if deal is None:
            raise NotFound(f"No deal with id {deal_id}.")
        return Response(DealDetailSerializer(deal).data)


class _DealActionApi(APIView):
    """POST starts the deal again through `service`; 202, or 404 / 409 with the reason."""

    service = staticmethod(deal_rerun)

    def post(self, request: Request, deal_id: uuid.UUID) -> Response:
        try:
            deal = self.service(deal_id=deal_id)
        except DealNotFound as exc:
            raise NotFound(str(exc)) from exc
        except DealConflict as exc:
            raise Conflict(str(exc)) from exc
        data = DealAcceptedSerializer({"id": deal.id, "status": deal.status}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


_action_responses = {202: DealAcceptedSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


@extend_schema_view(
    post=extend_schema(
        summary="Re-run the pipeline from scratch (history is kept)",
        request=None,
        responses=_action_responses,
    )
)
class DealProcessApi(_DealActionApi):
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
