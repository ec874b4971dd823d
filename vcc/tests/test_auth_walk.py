"""Every URL the project resolves refuses anyone who is not staff.

The walk reads the URL patterns themselves, so a new endpoint is covered the day it is
added. Open on purpose, and nothing else: the health checks, the login and logout pages,
the HubSpot webhook (which proves itself with its signature) and `/`, a redirect.
"""

import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

OPEN = {"healthz", "readyz", "login", "logout", "hubspot-webhook"}
OPEN |= {"home"}  # a redirect to the queue page, which is walked
_SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "path": "1", "str": "1", "slug": "x"}


def _concrete(route: str) -> str:
    """A path the pattern matches: converters and regex groups filled with sample values."""
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLES[m.group(1) or "str"], route)
    # A regex group of plain alternatives (the admin's app list) takes the first one.
    route = re.sub(r"\(\?P<\w+>(\w+)(?:\|\w+)*\)", r"\1", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
    return "/" + route.replace("^", "").replace("$", "")


def _urls(patterns=None, prefix: str = "") -> Iterator[tuple[str, str]]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _urls(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name not in OPEN:
            yield pattern.name or "", _concrete(prefix + str(pattern.pattern))


URLS = sorted(set(_urls()))


def _refused(response, *, as_anonymous: bool) -> bool:
    if response.status_code in (401, 403):
        return True
    # Pages send people to a login form instead (the admin's own, or ours).
    location = response.headers.get("Location", "")
    return (
        response.status_code == 302
        and "/login/" in location
        and (as_anonymous or "/admin/" in location)
    )


def test_the_walk_sees_every_part_of_the_project():
    paths = [path for _, path in URLS]
    for expected in ("/queue/", "/api/queue/deals/", "/api/sync/runs/", "/api/schema/"):
        assert expected in paths
    assert any(path.startswith("/admin/deals/deal/") for path in paths)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "path"), URLS, ids=[path for _, path in URLS])
def test_anonymous_requests_are_refused(client, method, name, path):
    response = getattr(client, method)(path)

    assert _refused(response, as_anonymous=True), (response.status_code, response.headers)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "path"), URLS, ids=[path for _, path in URLS])
def test_users_who_are_not_staff_are_refused(client, django_user_model, method, name, path):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))

    response = getattr(client, method)(path)

    assert _refused(response, as_anonymous=False), (response.status_code, response.headers)


def test_session_posts_need_the_csrf_token(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("op", password="pw", is_staff=True))

    response = client.post("/api/sync/runs/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
