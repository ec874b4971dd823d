"""The endpoint HubSpot's webhooks call: POST /api/webhooks/hubspot/.

No user: the request proves it comes from HubSpot with its v3 signature (hubspot/signatures.py).
It records the deal events (one INSERT) and answers at once; reading the deals from HubSpot
happens in a job (hubspot/services/webhooks.py). A request with a bad or stale signature
gets 401 and a malformed body 400; neither stores anything.
"""

import json
import time

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vcc.api import MAX_INT64, ErrorSerializer
from vcc.errors import InvalidInput, Unavailable

from ..services import webhook_events_record
from ..signatures import SignatureError, verify_signature_v3

MAX_EVENTS = 1_000  # HubSpot sends at most 100 a request
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31: later is no time PostgreSQL or Python has
MAX_MERGED = 250  # HubSpot merges two records at a time; the ids a merge names stay few


class WebhookEventSerializer(serializers.Serializer):
    """One event as HubSpot sends it (HubSpot's field names); other fields are accepted."""

    eventId = serializers.IntegerField(min_value=0, max_value=MAX_INT64)
    subscriptionType = serializers.CharField(max_length=64)
    objectId = serializers.IntegerField(min_value=1, max_value=MAX_INT64)
    occurredAt = serializers.IntegerField(min_value=0, max_value=MAX_EPOCH_MS, help_text="epoch ms")
    portalId = serializers.IntegerField(required=False, max_value=MAX_INT64)
    appId = serializers.IntegerField(required=False, max_value=MAX_INT64)
    subscriptionId = serializers.IntegerField(required=False, max_value=MAX_INT64)
    attemptNumber = serializers.IntegerField(required=False, max_value=MAX_INT64)
    propertyName = serializers.CharField(required=False, allow_blank=True)
    propertyValue = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    changeSource = serializers.CharField(required=False, allow_blank=True)
    # deal.merge: the primary and the deals merged into it, and the new deal holding them.
    primaryObjectId = serializers.IntegerField(min_value=1, max_value=MAX_INT64, required=False)
    mergedObjectIds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INT64),
        required=False,
        max_length=MAX_MERGED,
    )
    newObjectId = serializers.IntegerField(
        min_value=1, max_value=MAX_INT64, required=False, allow_null=True
    )


class HubspotWebhookApi(APIView):
    authentication_classes: list = []  # the signature is the authentication
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]  # for the schema; the raw body is read, never parsed by DRF
    throttle_classes: list = []

    def get_authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without a valid signature.
        return 'HubSpot-Signature-v3 realm="webhooks"'

    @extend_schema(
        summary="HubSpot webhook events (deal.creation, deal.propertyChange, deal.deletion, "
        "deal.restore, deal.merge)",
        description="Signed by HubSpot (X-HubSpot-Signature-v3 over method, URL, body and "
        "timestamp, keyed with the app's client secret). Deal events are recorded and "
        "processed in the background; 200 once recorded.",
        auth=[],
        parameters=[
            OpenApiParameter(
                "X-HubSpot-Signature-v3", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            ),
            OpenApiParameter(
                "X-HubSpot-Request-Timestamp",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="epoch ms; refused when more than 5 minutes away from now",
            ),
        ],
        request=WebhookEventSerializer(many=True),
        responses={
            200: inline_serializer(
                "WebhookAccepted",
                {"recorded": serializers.IntegerField(help_text="new events recorded")},
            ),
            400: ErrorSerializer,
            401: ErrorSerializer,
            413: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        if not settings.HUBSPOT_CLIENT_SECRET:
            raise Unavailable("Webhooks are not set up here: HUBSPOT_CLIENT_SECRET is not set.")
        secrets = [settings.HUBSPOT_CLIENT_SECRET, settings.HUBSPOT_CLIENT_SECRET_PREVIOUS]
        body = request.body
        try:
            verify_signature_v3(
                secrets=[secret for secret in secrets if secret],
                method=request.method or "POST",
                uri=settings.HUBSPOT_WEBHOOK_URL or request.build_absolute_uri(),
                body=body,
                signature=request.headers.get("X-HubSpot-Signature-v3"),
                timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
                now_ms=int(time.time() * 1000),
            )
        except SignatureError as exc:
            raise exceptions.AuthenticationFailed(f"Not a request from HubSpot: {exc}.") from None
        events = _events(body)
        return Response({"recorded": webhook_events_record(events=events)})


def _events(body: bytes) -> list[dict]:
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("The body is not JSON: expected an array of events.") from None
    if not isinstance(events, list) or not events:
        raise InvalidInput("The body must be a non-empty JSON array of events.")
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"At most {MAX_EVENTS} events per request ({len(events)} sent).")
    serializer = WebhookEventSerializer(data=events, many=True)
    if not serializer.is_valid():
        errors = serializer.errors
        # A list with one entry per event, or (DRF >= 3.15) a dict of the failing ones.
        by_position = errors.items() if isinstance(errors, dict) else enumerate(errors)
        for position, problems in by_position:
            if isinstance(problems, dict) and problems:
                field, messages = next(iter(problems.items()))
                raise InvalidInput(f"Event {position}: {field}: {messages[0]}")
        raise InvalidInput("The events are not valid HubSpot webhook events.")
    # The events as sent (unknown fields included): they identify a redelivery.
    return events
