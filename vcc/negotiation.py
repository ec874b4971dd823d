"""Content negotiation for every endpoint. (A module of its own: DRF imports it while
loading its settings, so it must not import DRF's views.)"""

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FirstRendererNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with its most common answer found without ranking the Accept
    header: a client taking anything (*/*, or no Accept) or exactly the first renderer's
    media type, with no ?format=, gets the first renderer, as DRF would give it. The queue
    page and API clients ask so on every poll, and ranking the header took about 0.1 ms
    each time. Anything else (a browser's Accept, a ?format=) goes DRF's whole way."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)  # a view's list already; the stubs allow any iterable
        first = renderers[0] if renderers else None
        if (
            first is not None
            and format_suffix is None
            and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", first.media_type)
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
