"""Deal endpoints for staff and API clients: read a deal with its runs, one run with what
its stage recorded, and start a deal again (the operator queue's pages and counts:
queue_apis)."""

import uuid

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS, ErrorSerializer
from vcc.errors import NotFound

from .models import RUN_RECORDED_FIELDS, Deal, DealWriteback, PipelinePass, PipelineRun
from .rules import deal_actions
from .selectors import deal_get_with_runs, deal_writeback_of, pipeline_run_get
from .services import deal_rerun, deal_retry


class PipelineRunSerializer(serializers.ModelSerializer):
    pass_id = serializers.UUIDField(source="pipeline_pass_id", help_text="The pass it ran in.")

    class Meta:
        model = PipelineRun
        fields = ["id", "pass_id", "stage", "status", "attempt", "started_at", "ended_at", "error"]


class LogLineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    level = serializers.ChoiceField(choices=["info", "warning", "error"])
    message = serializers.CharField()


class PipelineRunDetailSerializer(PipelineRunSerializer):
    deal_id = serializers.UUIDField()
    stage_version = serializers.CharField(
        allow_null=True, help_text="The stage's version at this run; null: a run from before."
    )
    params = serializers.JSONField(
        allow_null=True, help_text="The stage's parameters (its configuration) at this run."
    )
    output = serializers.JSONField(
        allow_null=True,
        help_text="What the stage returned; null: nothing (or the run failed). When "
        "`output_truncated`, the first 64 KB of its JSON text, as a string.",
    )
    output_truncated = serializers.BooleanField()
    log_lines = LogLineSerializer(
        many=True,
        allow_null=True,
        help_text="The stage's log lines, oldest first (at most 200 or 64 KB); null: none "
        "kept (cleared after PIPELINE_RUN_LOG_RETENTION_DAYS, or a run from before).",
    )
    log_lines_dropped = serializers.IntegerField(help_text="Lines past the cap, not kept.")
    log_lines_cleared = serializers.BooleanField(
        help_text="The log lines were cleared with age (the output is kept)."
    )

    class Meta(PipelineRunSerializer.Meta):
        fields = [
            *PipelineRunSerializer.Meta.fields,
            "deal_id",
            "retry_at",
            *RUN_RECORDED_FIELDS,
        ]


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


class MergedDealSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deal
        fields = ["id", "hubspot_deal_id"]


class ActionStateSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="What the action does, or why it is refused.")


class DealActionsSerializer(serializers.Serializer):
    """What the deal's state allows (deals/rules.py): the services refuse the rest (409)
    with the same reason."""

    rerun = ActionStateSerializer()
    retry = ActionStateSerializer()


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
    merged_into_id = serializers.UUIDField(
        allow_null=True,
        read_only=True,
        help_text="Our id of the deal this one was merged into (its drawer); null unless merged.",
    )
    merged_from = MergedDealSerializer(
        many=True,
        read_only=True,
        help_text="The deals merged into this one in HubSpot, in the order they were merged.",
    )
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Deal
        fields = [
            "id",
            "hubspot_deal_id",
            "hubspot_state",
            "hubspot_state_at",
            "merged_into_hubspot_deal_id",
            "merged_into_id",
            "merged_from",
            "name",
            "amount",
            "deal_stage",
            "hubspot_created_at",
            "hubspot_checked_in_at",
            "status",
            "current_stage",
            "created_at",
            "updated_at",
            "actions",
            "writeback",
            "passes",
            "runs",
        ]

    @extend_schema_field(DealActionsSerializer)
    def get_actions(self, deal: Deal) -> dict:
        return deal_actions(
            status=deal.status,
            current_stage=deal.current_stage,
            hubspot_state=deal.hubspot_state,
            merged_into=deal.merged_into.hubspot_deal_id if deal.merged_into else None,
        )

    @extend_schema_field(DealWritebackSerializer(allow_null=True))
    def get_writeback(self, deal: Deal) -> dict | None:
        writeback = deal_writeback_of(deal)
        return DealWritebackSerializer(writeback).data if writeback else None


class DealAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Deal.Status.choices)


class DealDetailApi(APIView):
    required_permissions = {"GET": "deals.view_deal"}

    @extend_schema(
        summary="A deal with its passes through the pipeline and every run of every stage",
        responses={200: DealDetailSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, deal_id: uuid.UUID) -> Response:
        deal = deal_get_with_runs(deal_id=deal_id)
        if deal is None:
            raise NotFound(f"No deal with id {deal_id}.")  # the error handler answers 404
        return Response(DealDetailSerializer(deal).data)


class PipelineRunDetailApi(APIView):
    required_permissions = {"GET": "deals.view_pipelinerun"}

    @extend_schema(
        summary="One run of a stage: its version, params, output and log lines",
        responses={200: PipelineRunDetailSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request, run_id: uuid.UUID) -> Response:
        run = pipeline_run_get(run_id=run_id)
        if run is None:
            raise NotFound(f"No run with id {run_id}.")
        return Response(PipelineRunDetailSerializer(run).data)


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
    required_permissions = {"POST": "deals.rerun_deal"}

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
    required_permissions = {"POST": "deals.retry_deal"}

    @extend_schema(
        summary="Retry a failed deal from the stage that failed, ahead of the backlog",
        request=None,
        responses=_action_responses,
    )
    def post(self, request: Request, deal_id: uuid.UUID) -> Response:
        return _accepted(deal_retry(deal_id=deal_id, requested_by=request.user.get_username()))
