"""No input gives a 500: every operation, with the values that used to reach one.

A property-based test (hypothesis) beside the schema-driven one (test_api_fuzz.py), whose
generator keeps to the schema's types: here every query parameter, body field, webhook
event field and import file gets numbers in other scripts' digits, integers past 64 bits,
deeply nested JSON, ids far longer than HubSpot's, NUL, over-long strings, wrong types,
empty values and repeated parameters. The answer must be below 500 (a refusal names the
field; what it says is tested beside each endpoint). Examples per operation:
API_FUZZ_EXAMPLES (25); the case count goes to test-artifacts/api-hostile.txt.
"""

import hashlib
import hmac
import json
import os
import time
import uuid
from base64 import b64encode
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("API_FUZZ_RANDOM", "") == "1"
SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
cases: Counter[str] = Counter()

# Arabic-Indic, Devanagari, fullwidth and mathematical bold digits: int() reads them all.
_DIGITS = "".join(chr(base + n) for base in (0x660, 0x966, 0xFF10, 0x1D7CE) for n in range(10))


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# The classes the review found, as JSON values and as query-string text.
HOSTILE_TEXT = st.one_of(
    st.text(alphabet=_DIGITS, min_size=1, max_size=25),  # other scripts' digits
    st.integers(min_value=2**63, max_value=2**200).map(str),  # past 64 bits
    st.integers(max_value=-1).map(str),
    st.integers(min_value=19, max_value=5000).map(lambda n: "9" * n),  # longer than an id
    st.text(max_size=20).map(lambda t: t + "\x00" + t),  # NUL
    st.text(min_size=300, max_size=2000),  # over-long
    st.sampled_from(["", " ", "true", "null", "NaN", "1e400", "0x10", "-0", "1.5", "[]", "{}"]),
    st.text(max_size=30),
)
HOSTILE_JSON = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=2**63, max_value=2**300),
    st.integers(min_value=-(2**300), max_value=-1),
    st.sampled_from([None, True, False, 0, 1.5, 1e308, [], {}, [None], {"a": None}]),
    st.integers(min_value=1, max_value=20).map(lambda n: json.loads(_nested(n))),
    st.lists(HOSTILE_TEXT, max_size=3),
)
DEEP = st.integers(min_value=1000, max_value=200_000).map(_nested)  # past Python's recursion


def _query(names: list[str]) -> st.SearchStrategy[str]:
    """A query string: the operation's parameters, some repeated or empty, others unknown."""
    pair = st.tuples(st.sampled_from([*names, "x", ""]), HOSTILE_TEXT)
    return st.lists(pair, max_size=6).map(urlencode)


GETS = {
    "/api/queue/deals/": ["status", "stage", "q", "hubspot_state", "limit", "before"],
    "/api/queue/counts/": [],
    "/api/queue/actions/": ["status", "stage", "q", "hubspot_state"],
    "/api/sync/runs/": ["cursor", "limit"],
    "/api/sync/health/": [],
    "/api/deals/{deal}/": [],
    "/api/imports/{import}/": ["offset", "limit"],
    "/api/sync/runs/{run}/": [],
}
BODIES = {
    "/api/queue/actions/": ["action", "status", "stage", "q", "hubspot_state"],
    "/api/imports/": ["hubspot_deal_ids"],
    "/api/sync/runs/": [],
    "/api/deals/{deal}/rerun/": [],
    "/api/deals/{deal}/retry/": [],
}
EVENT_FIELDS = ["eventId", "subscriptionType", "objectId", "occurredAt", "propertyName",
                "propertyValue", "primaryObjectId", "mergedObjectIds", "newObjectId"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    line = f"api hostile: operations={len(cases)} cases={sum(cases.values())} failures=0"
    path = Path(django_settings.BASE_DIR) / "test-artifacts" / "api-hostile.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(line + "\n" + "".join(f"  {op}: {n}\n" for op, n in sorted(cases.items())))
    print(line)


@pytest.fixture
def api(django_user_model) -> APIClient:
    from deals.tests.factories import DealFactory
    from hubspot.models import DealImport, SyncRun

    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("fuzz", password="pw"))
    client.ids = {  # type: ignore[attr-defined]
        "deal": DealFactory.create(status="failed").id,
        "import": DealImport.objects.create(total=1).id,
        "run": SyncRun.objects.create(trigger="manual").id,
    }
    return client


def _path(api: APIClient, template: str) -> str:
    return template.format(**api.ids)  # type: ignore[attr-defined]


def _answers(operation: str, response) -> None:
    cases[operation] += 1
    assert response.status_code < 500, (operation, response.status_code, response.content[:300])


@pytest.mark.parametrize("template", GETS)
def test_no_query_string_gives_a_500(api, template):
    @SETTINGS
    @given(query=_query(GETS[template]))
    def check(query: str) -> None:
        _answers(f"GET {template}", api.get(f"{_path(api, template)}?{query}"))

    check()


@pytest.mark.parametrize("template", BODIES)
def test_no_json_body_gives_a_500(api, template):
    fields = BODIES[template]
    body = st.one_of(
        st.dictionaries(st.sampled_from([*fields, "x"]), HOSTILE_JSON, max_size=5).map(json.dumps),
        HOSTILE_JSON.map(json.dumps),
        DEEP,
        st.binary(max_size=50).map(lambda b: b.decode("latin-1")),  # not JSON at all
    )

    @SETTINGS
    @given(body=body)
    def check(body: str) -> None:
        response = api.generic("POST", _path(api, template), body, "application/json")
        _answers(f"POST {template}", response)

    check()


def test_no_import_file_gives_a_500(api):
    header = st.sampled_from(["hubspot_deal_id\n", "hubspot_deal_id,name\n", "", "id\n"])
    csv = st.tuples(header, st.lists(HOSTILE_TEXT, max_size=5)).map(
        lambda parts: parts[0] + "\n".join(parts[1])
    )
    content = st.one_of(csv, HOSTILE_JSON.map(json.dumps), DEEP, st.binary(max_size=200))

    @SETTINGS
    @given(content=content)
    def check(content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else content
        upload = {"file": ("ids.csv", data, "text/csv")}
        from django.core.files.uploadedfile import SimpleUploadedFile

        file = SimpleUploadedFile(*upload["file"])
        _answers("POST /api/imports/ (file)", api.post("/api/imports/", {"file": file}))

    check()


def _signed(body: bytes, uri: str, secret: str) -> dict[str, Any]:
    timestamp = str(int(time.time() * 1000))
    message = f"POST{uri}".encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "HTTP_X_HUBSPOT_SIGNATURE_V3": b64encode(digest).decode(),
        "HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": timestamp,
    }


def test_no_signed_webhook_body_gives_a_500(settings):
    settings.HUBSPOT_CLIENT_SECRET = "hostile-secret"
    settings.HUBSPOT_WEBHOOK_URL = "http://testserver/api/webhooks/hubspot/"
    good = {
        "eventId": 1,
        "subscriptionType": "deal.creation",
        "objectId": 1,
        "occurredAt": int(time.time() * 1000),
    }
    event = st.dictionaries(st.sampled_from(EVENT_FIELDS), HOSTILE_JSON, max_size=4).map(
        lambda fields: {**good, **fields, "eventId": fields.get("eventId", uuid.uuid4().int % 1000)}
    )
    body = st.one_of(
        st.lists(event, min_size=1, max_size=3).map(json.dumps),
        HOSTILE_JSON.map(json.dumps),
        DEEP,
    )

    @SETTINGS
    @given(body=body)
    def check(body: str) -> None:
        raw = body.encode()
        headers = _signed(raw, settings.HUBSPOT_WEBHOOK_URL, "hostile-secret")
        response = Client().post(  # Django's client: a raw body, headers as given
            "/api/webhooks/hubspot/", raw, content_type="application/json", **headers
        )
        _answers("POST /api/webhooks/hubspot/", response)

    check()


def test_the_cases_reach_the_views(api):
    """Not only refusals at the door: a plain request to each gets through."""
    assert api.get("/api/queue/deals/?limit=١٢").status_code == 400
    import_id = api.ids["import"]
    assert api.get(f"/api/imports/{import_id}/?offset={2**70}").status_code == 400
    big = api.post("/api/imports/", {"hubspot_deal_ids": ["9" * 25]}, format="json")
    assert big.status_code == 400 and "hubspot_deal_ids" in big.json()
