"""Request bodies over the configured maximum are answered 413 before anything reads them.

Django's multipart parser streams any size to temporary files, and DRF's CSRF check for a
session parses the body before any permission is checked, so the size must be refused here,
first in the middleware, from the Content-Length header alone: authenticated or not. A body
without a Content-Length is read as empty by Django (WSGI), so it cannot slip past.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def body_limit_for(path: str) -> tuple[int, str]:
    """The most bytes a body to `path` may have, and what that limit is called."""
    if path.startswith("/api/imports/"):
        return settings.REQUEST_MAX_IMPORT_BYTES, "an import"
    if path.startswith("/api/webhooks/"):
        return settings.REQUEST_MAX_WEBHOOK_BYTES, "a webhook request"
    return settings.REQUEST_MAX_JSON_BYTES, "a request"


def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        if not raw.isascii() or not raw.isdigit():
            return _refuse(request, 400, "Content-Length must be a whole number of bytes.")
        limit, what = body_limit_for(request.path)
        if int(raw) > limit:
            return _refuse(
                request,
                413,
                f"The body is too large: {what} may be at most {limit:,} bytes "
                f"({int(raw):,} sent).",
            )
        return self.get_response(request)
