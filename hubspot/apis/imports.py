"""Bulk import by HubSpot deal id, for staff: POST /api/imports/ starts one (202), and
GET /api/imports/{id}/ says how far it got and how each id ended, a page at a time."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from vcc.api import (
    AUTH_ERRORS,
    MEDIA_ERRORS,
    ErrorSerializer,
    QueryIntegerField,
    StrictJSONParser,
)
from vcc.errors import InvalidInput, NotFound

from ..models import DealImport, DealImportItem
from ..selectors import deal_import_get, deal_import_items, deal_import_totals
from ..services import deal_import_create, import_ids_from_file, import_ids_validate
from ..services.imports import MAX_IDS

JSON, MULTIPART = "application/json", "multipart/form-data"


class ImportRequestSerializer(serializers.Serializer):
    hubspot_deal_ids = serializers.ListField(
        child=serializers.CharField(),
        min_length=1,
        max_length=MAX_IDS,
        help_text="HubSpot deal ids (numeric strings); repeats are collapsed.",
    )


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A CSV file with a hubspot_deal_id header, or a JSON array of ids."
    )


class ImportAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status_url = serializers.URLField()
    total = serializers.IntegerField(help_text="distinct ids to import")


class ImportTotalsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="items no longer pending")
    imported = serializers.IntegerField()
    already_present = serializers.IntegerField()
    not_found = serializers.IntegerField()
    failed = serializers.IntegerField()


class ImportItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealImportItem
        fields = ["hubspot_deal_id", "status", "error", "deal_id", "merged_into"]


class ImportSerializer(serializers.ModelSerializer):
    totals = ImportTotalsSerializer()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    items = ImportItemSerializer(many=True)

    class Meta:
        model = DealImport
        fields = [
            "id",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "totals",
            "offset",
            "limit",
            "items",
        ]


def _messages(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), required=False, help_text=help_text)


ImportRequestErrorSerializer = inline_serializer(
    "ImportRequestError",
    fields={
        "detail": serializers.CharField(
            required=False, help_text="wrong content type, or a body that is not JSON"
        ),
        "hubspot_deal_ids": _messages("what is wrong with the ids (the bad ones listed)"),
        "file": _messages("what is wrong with the uploaded file or the ids in it"),
    },
)
ImportPageErrorSerializer = inline_serializer(
    "ImportPageError",
    fields={"offset": _messages("not a whole number >= 0"), "limit": _messages("out of range")},
)


class ImportPageQuerySerializer(serializers.Serializer):
    offset = QueryIntegerField(min_value=0, default=0)
    limit = QueryIntegerField(min_value=1, max_value=MAX_IDS, default=100)


class DealImportListApi(APIView):
    required_permissions = {"POST": "hubspot.add_dealimport"}
    parser_classes = [StrictJSONParser, MultiPartParser]

    @extend_schema(
        summary="Import deals by HubSpot id (1 to 1,000); processed in the background",
        request={JSON: ImportRequestSerializer, MULTIPART: ImportUploadSerializer},
        responses={
            202: ImportAcceptedSerializer,
            400: ImportRequestErrorSerializer,
            **AUTH_ERRORS,
            **MEDIA_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == JSON:
            data = request.data
            if not isinstance(data, dict) or "hubspot_deal_ids" not in data:
                raise InvalidInput('Send {"hubspot_deal_ids": [...]}.', field="hubspot_deal_ids")
            ids = import_ids_validate(data["hubspot_deal_ids"])
        elif content_type == MULTIPART:
            upload = request.FILES.get("file")
            if upload is None:
                raise InvalidInput("Upload the ids as a file field named 'file'.", field="file")
            ids = import_ids_validate(import_ids_from_file(upload), field="file")
        else:
            raise InvalidInput(
                f"Content-Type must be {JSON} (hubspot_deal_ids) or {MULTIPART} (a file); "
                f"got {content_type or 'none'}."
            )
        deal_import = deal_import_create(hubspot_deal_ids=ids, created_by=request.user)
        url = reverse("deal-import-detail", kwargs={"import_id": deal_import.id}, request=request)
        data = {"id": deal_import.id, "status_url": url, "total": deal_import.total}
        return Response(ImportAcceptedSerializer(data).data, status=status.HTTP_202_ACCEPTED)


class DealImportDetailApi(APIView):
    required_permissions = {"GET": "hubspot.view_dealimport"}

    @extend_schema(
        summary="An import: its totals, and its items a page at a time (request order)",
        parameters=[
            OpenApiParameter("offset", int, description="items to skip (default 0)"),
            OpenApiParameter("limit", int, description=f"items to return, 1 to {MAX_IDS}"),
        ],
        responses={
            200: ImportSerializer,
            400: ImportPageErrorSerializer,
            404: ErrorSerializer,
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request, import_id: uuid.UUID) -> Response:
        query = ImportPageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deal_import = deal_import_get(import_id=import_id)
        if deal_import is None:
            raise NotFound(f"No import with id {import_id}.")
        offset, limit = query.validated_data["offset"], query.validated_data["limit"]
        data = {
            **{field: getattr(deal_import, field) for field in ImportSerializer.Meta.fields[:5]},
            "totals": deal_import_totals(import_id=import_id),
            "offset": offset,
            "limit": limit,
            "items": deal_import_items(import_id=import_id, offset=offset, limit=limit),
        }
        return Response(ImportSerializer(data).data)
