"""The queue page's insights: deals in and out, stage durations, failures and the backlog
over the last 24 hours or 7 days, from the rollups (one query per chart), with ETag/304."""

import time
from typing import Any

import orjson
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from vcc.api import AUTH_ERRORS

from .insights_selectors import (
    RANGES,
    insights_as_of,
    insights_backlog,
    insights_series,
    insights_top_reasons,
    insights_window,
)
from .queue_format import etag_matches


class QueryChoiceField(serializers.ChoiceField):
    """A blank value in a query string is a bad value (400 naming it), not "not given"."""

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class InsightsQuerySerializer(serializers.Serializer):
    range = QueryChoiceField(
        choices=list(RANGES), default="24h", help_text="24h: 5-minute buckets; 7d: hourly."
    )


class DurationSerializer(serializers.Serializer):
    p50 = serializers.ListField(child=serializers.FloatField(allow_null=True))
    p95 = serializers.ListField(child=serializers.FloatField(allow_null=True))


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="The run's error, its numbers written N.")
    runs = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="...of which the deal failed.")
    retried = serializers.IntegerField(help_text="...of which the stage was tried again.")


class InsightsSerializer(serializers.Serializer):
    range = serializers.CharField()
    step_seconds = serializers.IntegerField(help_text="The buckets' width.")
    buckets = serializers.ListField(
        child=serializers.IntegerField(), help_text="Each bucket's start, epoch seconds."
    )
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="When the rollups were last folded (every few seconds)."
    )
    arrived = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="New deals per source: sync, webhook, import, reconcile (merge survivors).",
    )
    done = serializers.ListField(child=serializers.IntegerField())
    failed = serializers.ListField(child=serializers.IntegerField())
    durations = serializers.DictField(
        child=DurationSerializer(), help_text="Per stage: run durations, seconds (null: none)."
    )
    failures = serializers.DictField(help_text="by_stage: failed runs; top_reasons per stage.")
    backlog = serializers.DictField(
        help_text="pending: deals waiting; oldest_pending_seconds: the longest wait."
    )


class InsightsApi(APIView):
    required_permissions = {"GET": "deals.view_deal"}

    def initial(self, request: Request, *args, **kwargs) -> None:
        self._started = time.perf_counter()  # Server-Timing spans authentication onwards
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="How the pipeline is doing: charts' series over 24 hours or 7 days",
        description="From rollups kept as work happens, never a scan of the runs: a few "
        "small reads. Send the ETag back as If-None-Match: 304 until the next fold.",
        parameters=[
            InsightsQuerySerializer,
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            200: InsightsSerializer,
            304: OpenApiResponse(description="Not modified since the client's ETag."),
            400: inline_serializer(
                "InsightsQueryError",
                fields={"range": serializers.ListField(child=serializers.CharField())},
            ),
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request) -> HttpResponseBase:
        query = InsightsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        range_name = query.validated_data["range"]
        window = insights_window(range_name=range_name, now=timezone.now())
        as_of = insights_as_of()
        stamp = f"{as_of.timestamp():.6f}" if as_of else "none"
        etag = f'"insights-{range_name}-{window.start.timestamp():.0f}-{stamp}"'
        response: HttpResponseBase
        if etag_matches(etag, request.META.get("HTTP_IF_NONE_MATCH", "")):
            response = HttpResponseNotModified()
        else:
            series = insights_series(window=window)
            durations, by_stage = series.pop("durations"), series.pop("failures_by_stage")
            body = {
                "range": range_name,
                "step_seconds": window.width,
                "buckets": [int(b.timestamp()) for b in window.buckets],
                "as_of": as_of,
                **series,
                "durations": durations,
                "failures": {
                    "by_stage": by_stage,
                    "top_reasons": insights_top_reasons(window=window),
                },
                "backlog": insights_backlog(window=window),
            }
            # orjson, in the view: the body is thousands of numbers (as the queue's pages).
            data = orjson.dumps(body, option=orjson.OPT_UTC_Z)
            response = HttpResponse(data, content_type="application/json")
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - self._started) * 1000:.2f}"
        return response
