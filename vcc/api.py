"""API pieces every app shares: the error body, the auth errors every endpoint documents,
and the one exception handler that turns service errors into responses."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import errors

ErrorSerializer = inline_serializer("Error", fields={"detail": serializers.CharField()})
# Every endpoint is staff only: 401 without credentials, 403 for a user who is not staff or
# lacks the permission the operation needs (the message names it; vcc/permissions.py).
AUTH_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer}
# A request body of a media type the view does not parse (views that read one).
# And one over the size limit (vcc/limits.py), refused before it is read.
MEDIA_ERRORS = {413: ErrorSerializer, 415: ErrorSerializer}
# A malformed `limit` (StrictCursorPagination): what is wrong with it.
PagingErrorSerializer = inline_serializer(
    "PagingError", fields={"limit": serializers.ListField(child=serializers.CharField())}
)


def _as_api_exception(exc: errors.ApplicationError) -> exceptions.APIException:
    if isinstance(exc, errors.InvalidInput) and exc.field:
        return exceptions.ValidationError({exc.field: [exc.message]})
    answer = exceptions.APIException(exc.message, code=exc.code)
    answer.status_code = exc.status_code
    return answer


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, taught our service errors: {"detail": ...} with the matching status,
    or {"<field>": [...]} for invalid input that names its field."""
    if isinstance(exc, errors.ApplicationError):
        exc = _as_api_exception(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    return drf_exception_handler(exc, context)


# The largest id HubSpot hands out fits a signed 64-bit integer, as our columns do.
MAX_INT64 = 2**63 - 1


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, with nesting too deep for Python's parser a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter. DRF reads a blank value from a form as "not given" (so
    `?limit=` would get the default); in a query string it is a bad value: 400 naming it,
    as the schema (an integer) says."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", MAX_INT64)  # past it PostgreSQL would refuse it: a 500
        super().__init__(**kwargs)

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""  # to_internal_value refuses it: "A valid integer is required."
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> int:
        # Python's int() reads any script's digits ("١٢"); a query string has ASCII ones.
        if isinstance(data, str) and not data.strip().isascii():
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCursorPagination(CursorPagination):
    """Cursor paging (`cursor`, `limit`) whose `limit` is checked: out of range or not a
    number is a 400 naming it, not silently ignored. A cursor we never handed out is a 404
    (DRF's "Invalid cursor"): any string is a well-formed opaque cursor."""

    page_size_query_param = "limit"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
