"""Contract tests: our client's requests and our simulator's answers held to HubSpot's own
OpenAPI document for deals, `hubspot/tests/spec/deals-2026-09.json` (SOURCE.md there), with
openapi-core (pinned in requirements-dev.txt).

Unknown fields fail: openapi-core's `additional_properties_default_policy="forbid"` treats
every object schema that does not declare `additionalProperties` as closed; the free-form maps
(`properties`, `propertiesWithHistory`, `context`, `links`) declare theirs and stay open.
Unknown query parameters fail too (openapi-core ignores them, so `_check_query` does it).

The spec is used as HubSpot publishes it except for `_amend`, each change backed by HubSpot's
behaviour where the document is known to be wrong or silent:
- `sorts` items: the document says strings, but HubSpot's search takes (and its guide shows)
  `{"propertyName", "direction"}`; a string sort is ignored (HubSpot's SDK trackers:
  hubspot-api-python#236, hubspot-api-nodejs#9/#559, hubspot-api-ruby#257). The test holds
  sorts to that object, closed, with the documented directions.
- 207: batch read and update answer 207 with `errors[]` when some inputs failed (NOTES.md,
  "Errors"); the 2026-09 document declares no 207 (v3's did, with the same record and error
  shapes), so a 207 is held to the 200 schema, which carries `numErrors` and `errors[]`.
- the error body's `status` ("error"): HubSpot sends it (NOTES.md, "Errors" and "Rate
  limits"); the `Error` schema omits it.
- security: every credential we support sends `Authorization: Bearer` (NOTES.md), which the
  document's oauth2 / apiKey-header schemes do not describe to a validator.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from hubspot.simulator.process import RunningSimulator
from hubspot.tests.factories import (
    BATCH_READ_URL,
    BATCH_UPDATE_URL,
    SEARCH_URL,
    SINCE,
    UNTIL,
    deal_json,
    make_client,
    page_json,
)
from hubspot.tests.simulator.helpers import session_for

SPEC_NAME = "deals-2026-09.json"
HUBSPOT = "https://api.hubapi.com"  # the document's server: every request is checked as sent there
DEALS = "/crm/objects/2026-09/deals"


def _spec_file() -> Path:
    # Vendored unmodified (spec/SOURCE.md), so the tests need nothing outside the repository.
    return Path(__file__).parent / "spec" / SPEC_NAME


def _amend(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with the changes the module docstring lists, and nothing else."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    schemas["PublicObjectSearchRequest"]["properties"]["sorts"]["items"] = {
        "type": "object",
        "required": ["propertyName"],
        "properties": {
            "propertyName": {"type": "string"},
            "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]},
        },
    }
    schemas["Error"]["properties"]["status"] = {"type": "string"}
    paths = spec["paths"]
    for rest in ("/batch/read", "/batch/update"):
        answers = paths["/crm/objects/2026-09/{objectType}" + rest]["post"]["responses"]
        answers["207"] = copy.deepcopy(answers["200"])
    spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [{"bearer": []}]
    return spec


def _json(data: bytes | str, **_parameters: str) -> Any:
    return json.loads(data)


@cache
def _spec() -> dict[str, Any]:
    return _amend(json.loads(_spec_file().read_text()))


@cache
def _openapi() -> OpenAPI:
    # The error answers are declared `*/*`: HubSpot sends them as JSON, so read them as JSON.
    config = Config(
        additional_properties_default_policy="forbid",
        extra_media_type_deserializers={"*/*": _json},
    )
    return OpenAPI.from_dict(copy.deepcopy(_spec()), config=config)


class _Request:
    """An openapi-core request: a request as sent, checked as if sent to HubSpot's server."""

    def __init__(self, method: str, url: str, headers: Any, body: bytes | str | None) -> None:
        parts = urlsplit(url)
        self.host_url, self.path, self.method = HUBSPOT, parts.path, method.lower()
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = headers.get("Content-Type") or "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(dict(headers))
        )

    @classmethod
    def of(cls, sent: requests.PreparedRequest) -> _Request:
        assert sent.method and sent.url
        return cls(sent.method, sent.url, sent.headers, sent.body)


class _Response:
    def __init__(self, answer: requests.Response) -> None:
        self.status_code, self.headers, self.data = (
            answer.status_code,
            answer.headers,
            answer.content,
        )
        self.content_type = answer.headers.get("Content-Type", "")


def _check_query(request: _Request) -> None:
    """openapi-core ignores query parameters the operation does not declare: refuse them."""
    for template, item in _spec()["paths"].items():
        if _path_matches(template, request.path):
            declared = {p["name"] for p in item[request.method].get("parameters", [])}
            unknown = set(request.query) - declared
            assert not unknown, f"query parameters the spec does not know: {unknown}"
            return
    raise AssertionError(f"no path of the spec matches {request.path}")


def _path_matches(template: str, path: str) -> bool:
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(got) and all(
        w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(want, got, strict=True)
    )


def assert_request_matches_spec(request: _Request) -> None:
    _openapi().validate_request(request)
    _check_query(request)


def assert_answer_matches_spec(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    _openapi().validate_response(_Request.of(answer.request), _Response(answer))
    return answer.json()


# ------------------------------------------------------------------------------
# Our client's requests
# ------------------------------------------------------------------------------


@pytest.fixture
def captured(sleeps) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _sent(mock: responses.RequestsMock) -> list[_Request]:
    return [_Request.of(call.request) for call in mock.calls]


def test_the_clients_search_request_matches_hubspots_spec(captured, sleeps):
    captured.post(SEARCH_URL, json=page_json([deal_json(1)], total=2, after="1"))
    captured.post(SEARCH_URL, json=page_json([deal_json(2)], total=2))

    list(make_client(sleeps).search_checked_in(since=SINCE, until=UNTIL))
    # The steady-state poll's search: by hs_lastmodifieddate, checked-in deals only.
    captured.post(SEARCH_URL, json=page_json([]))
    list(make_client(sleeps).search_modified(since=SINCE, until=UNTIL))

    sent = _sent(captured)
    assert [r.path for r in sent] == [DEALS + "/search"] * 3  # two pages, then the poll's
    for request in sent:
        assert_request_matches_spec(request)


def test_the_clients_batch_read_request_matches_hubspots_spec(captured, sleeps):
    captured.post(BATCH_READ_URL, json={"status": "COMPLETE", "results": [deal_json(1)]})

    make_client(sleeps).read_deals(["1", "2"])

    (request,) = _sent(captured)
    assert (request.method, request.path) == ("post", DEALS + "/batch/read")
    assert_request_matches_spec(request)


def test_the_clients_batch_update_request_matches_hubspots_spec(captured, sleeps):
    captured.post(BATCH_UPDATE_URL, json={"status": "COMPLETE", "results": [deal_json(1)]})

    make_client(sleeps).update_deals([("1", {"dealstage": "closedwon", "amount": None})])

    (request,) = _sent(captured)
    assert (request.method, request.path) == ("post", DEALS + "/batch/update")
    assert_request_matches_spec(request)


def _hand_made(body: dict[str, Any], url: str = HUBSPOT + DEALS + "/search") -> _Request:
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    return _Request("POST", url, headers, json.dumps(body))


def test_a_field_hubspots_spec_does_not_know_fails_the_contract():
    good = {"filterGroups": [], "sorts": [], "properties": [], "limit": 1, "after": "0"}
    assert_request_matches_spec(_hand_made(good))
    bad_filter = {"propertyName": "a", "operator": "EQ", "value": "1", "valu": "2"}
    read = {"inputs": [{"id": "1", "idd": "2"}], "properties": [], "propertiesWithHistory": []}
    for bad, url, unknown in (
        ({**good, "pageSize": 10}, "/search", "pageSize"),
        ({**good, "filterGroups": [{"filters": [bad_filter]}]}, "/search", "valu"),
        ({**good, "sorts": [{"propertyName": "a", "dir": "UP"}]}, "/search", "dir"),
        (read, "/batch/read", "idd"),
    ):
        with pytest.raises(Exception, match=f"Additional properties .*'{unknown}' was unexpected"):
            assert_request_matches_spec(_hand_made(bad, HUBSPOT + DEALS + url))
    with pytest.raises(AssertionError, match="propertys"):
        assert_request_matches_spec(
            _Request("GET", HUBSPOT + DEALS + "/1?propertys=a", {"Authorization": "Bearer x"}, None)
        )


# ------------------------------------------------------------------------------
# The simulator's answers
# ------------------------------------------------------------------------------


@pytest.fixture
def sim(hubspot_simulator: RunningSimulator) -> RunningSimulator:
    return hubspot_simulator


def _post(sim: RunningSimulator, rest: str, body: dict[str, Any]) -> requests.Response:
    return session_for(sim).post(sim.base_url + DEALS + rest, json=body, timeout=10)


def _some_ids(sim: RunningSimulator, count: int) -> list[str]:
    page = _post(sim, "/search", {"limit": count, "properties": ["dealname"]}).json()
    return [deal["id"] for deal in page["results"]]


def test_the_simulators_search_answer_matches_hubspots_spec(sim):
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}
        ],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["dealname", "amount", "checked_in_at"],
        "limit": 5,
        "after": "0",
    }
    first = assert_answer_matches_spec(_post(sim, "/search", body), 200)
    assert len(first["results"]) == 5 and first["paging"]["next"]["after"] == "5"
    last = assert_answer_matches_spec(_post(sim, "/search", {**body, "after": "295"}), 200)
    assert "paging" not in last
    by_type_id = sim.base_url + "/crm/objects/2026-09/0-3/search"
    assert_answer_matches_spec(session_for(sim).post(by_type_id, json=body, timeout=10), 200)


def test_the_simulators_batch_read_answers_match_hubspots_spec(sim):
    inputs = [{"id": deal_id} for deal_id in _some_ids(sim, 2)]
    body = {"inputs": inputs, "properties": ["dealname"], "propertiesWithHistory": []}
    assert_answer_matches_spec(_post(sim, "/batch/read", body), 200)

    inputs.append({"id": "404404"})
    partial = assert_answer_matches_spec(_post(sim, "/batch/read", body), 207)
    assert [e["category"] for e in partial["errors"]] == ["OBJECT_NOT_FOUND"]


def test_the_simulators_batch_update_answers_match_hubspots_spec(sim):
    ok, refused = _some_ids(sim, 2)
    inputs = [{"id": ok, "properties": {"dealstage": "closedwon"}}]
    assert_answer_matches_spec(_post(sim, "/batch/update", {"inputs": inputs}), 200)

    sim.configure(refuse_update_ids=[int(refused)])
    inputs += [
        {"id": refused, "properties": {"dealstage": "x"}},
        {"id": "404404", "properties": {}},
    ]
    partial = assert_answer_matches_spec(_post(sim, "/batch/update", {"inputs": inputs}), 207)
    categories = {e["category"]: e["context"]["ids"] for e in partial["errors"]}
    assert categories == {"OBJECT_NOT_FOUND": ["404404"], "VALIDATION_ERROR": [refused]}
    assert partial["numErrors"] == 2 and [r["id"] for r in partial["results"]] == [ok]

    sim.configure(refuse_update_mode="whole_batch")
    whole = assert_answer_matches_spec(_post(sim, "/batch/update", {"inputs": inputs}), 400)
    assert whole["category"] == "VALIDATION_ERROR"


def test_the_simulators_single_read_answers_match_hubspots_spec(sim):
    (deal_id,) = _some_ids(sim, 1)
    session = session_for(sim)
    url = sim.base_url + DEALS + "/"
    found = session.get(url + deal_id, params={"properties": "dealname,amount"}, timeout=10)
    assert assert_answer_matches_spec(found, 200)["id"] == deal_id

    missing = assert_answer_matches_spec(session.get(url + "404404", timeout=10), 404)
    assert missing["category"] == "OBJECT_NOT_FOUND"


def test_the_simulators_400_error_answer_matches_hubspots_spec(sim):
    too_many = {"filterGroups": [], "sorts": [], "properties": [], "limit": 201, "after": "0"}
    error = assert_answer_matches_spec(_post(sim, "/search", too_many), 400)
    assert error["category"] == "VALIDATION_ERROR" and error["correlationId"]
