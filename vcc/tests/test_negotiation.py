import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from vcc.negotiation import FirstRendererNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "text/html",
    "application/*",
]


def _choose(negotiation, renderers, accept, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/queue/deals/{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return "406"
    except Http404:  # a ?format= no renderer has
        return "404"
    return type(renderer), media_type


@pytest.mark.parametrize("renderers", [[JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]])
@pytest.mark.parametrize("query", ["", "?limit=5", "?format=json", "?format=api"])
@pytest.mark.parametrize("accept", ACCEPTS)
def test_it_chooses_what_drfs_negotiation_chooses(renderers, query, accept):
    ours = _choose(FirstRendererNegotiation(), renderers, accept, query)

    assert ours == _choose(DefaultContentNegotiation(), renderers, accept, query)


def test_an_accept_no_renderer_serves_is_still_refused():
    assert _choose(FirstRendererNegotiation(), [JSONRenderer()], "text/csv", "") == "406"


def test_a_view_without_renderers_is_refused_as_drf_refuses_it():
    assert _choose(FirstRendererNegotiation(), [], "*/*", "") == _choose(
        DefaultContentNegotiation(), [], "*/*", ""
    )
