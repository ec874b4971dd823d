"""Oversized bodies are refused with 413 before anything parses them (vcc/limits.py)."""

import pytest
from django.http import multipartparser
from django.test import Client

from vcc.testing import role_user

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


def _spooled(monkeypatch) -> list[str]:
    """Every body Django started to parse (multipart, or DRF's JSON)."""
    seen: list[str] = []
    original = multipartparser.MultiPartParser.parse

    def parse(self):
        seen.append("multipart")
        return original(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", parse)
    return seen


def test_an_anonymous_oversized_multipart_import_is_refused_unread(monkeypatch):
    seen = _spooled(monkeypatch)
    body = b"x" * (2 * MB + 1)

    response = Client().post(
        "/api/imports/", data=body, content_type="multipart/form-data; boundary=b"
    )

    assert response.status_code == 413
    assert "an import may be at most 2,097,152 bytes" in response.json()["detail"]
    assert seen == []


def test_an_import_within_its_limit_gets_through_to_the_view(client):
    client.force_login(role_user("olga", "operator"))
    ids = ",".join(str(10_000 + n) for n in range(5))

    response = client.post(
        "/api/imports/", data=f'{{"hubspot_deal_ids": [{ids}]}}'.encode(),
        content_type="application/json",
    )  # fmt: skip

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("path", "size", "named"),
    [
        ("/api/queue/actions/", MB + 1, "a request may be at most 1,048,576"),
        ("/api/webhooks/hubspot/", MB + 1, "a webhook request may be at most 1,048,576"),
        ("/api/sync/runs/", MB + 1, "a request may be at most"),
    ],
)
def test_json_and_webhook_bodies_over_their_limit_get_413_signed_in_or_not(path, size, named):
    operator = Client()
    operator.force_login(role_user("olga", "operator"))
    body = b"[" + b" " * size + b"]"

    for client in (Client(), operator):
        response = client.post(path, data=body, content_type="application/json")

        assert response.status_code == 413
        assert named in response.json()["detail"]


def test_the_admin_and_login_forms_have_the_limit_too():
    response = Client().post(
        "/accounts/login/", data=b"a=" + b"x" * MB, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert b"at most 1,048,576 bytes" in response.content


def test_a_content_length_that_is_not_a_number_is_a_400():
    response = Client().post("/api/queue/actions/", data=b"{}", content_type="application/json",
                             CONTENT_LENGTH="١٢")  # fmt: skip

    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


def test_the_limits_are_settings(settings):
    settings.REQUEST_MAX_JSON_BYTES = 10

    response = Client().post("/api/queue/actions/", data=b'{"action": "rerun"}',
                             content_type="application/json")  # fmt: skip

    assert response.status_code == 413
