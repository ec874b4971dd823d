"""The OpenAPI document: staff only, valid, and describing every endpoint of the project.

The checks walk the generated schema and the URLconf, not a list of our endpoints, so an
endpoint added anywhere in the project is held to the same rules.
"""

import re
from collections.abc import Iterator
from datetime import timedelta

import jsonschema
import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.views import APIView

from deals.tests.factories import DealFactory, PipelineRunFactory
from vcc.testing import role_user

pytestmark = pytest.mark.django_db

METHODS = {"get", "put", "patch", "post", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _openapi_path(route: str) -> str:
    """ "api/deals/<uuid:deal_id>/" or "^api/sync/(?P<pk>[^/.]+)/$" -> "/api/deals/{deal_id}/"."""
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    return "/" + route.replace("^", "").replace("$", "")


def _api_routes() -> set[str]:
    """Every DRF endpoint in the URLconf that is not deliberately left out of the schema."""
    routes = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            view = getattr(pattern.callback, "cls", None)
            route = prefix + str(pattern.pattern)
            if (
                isinstance(pattern, URLPattern)
                and view is not None
                and issubclass(view, APIView)
                and getattr(view, "schema", True) is not None  # DRF's own opt-out
                and not view.__module__.startswith("drf_spectacular.")  # the docs themselves
                and "(?P<format>" not in route  # format-suffix twins of real routes
            ):
                routes.add(_openapi_path(route))

    walk(get_resolver().url_patterns, "")
    return routes


def _json_schema(node, components: dict):
    """An OpenAPI 3.0 schema as JSON Schema: $refs inlined, `nullable` as a null type, and
    objects closed, so a field the docs do not mention fails too."""
    if isinstance(node, list):
        return [_json_schema(child, components) for child in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    converted = {k: _json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if "properties" in converted:
        converted.setdefault("additionalProperties", False)
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


def _assert_documented(schema: dict, method: str, path: str, response) -> None:
    documented = schema["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method} {path} {response.status_code}"
    body_schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _json_schema(body_schema, schema["components"]["schemas"]))


def test_the_schema_validates_with_no_warnings(tmp_path):
    # What CI runs as `manage.py spectacular --validate --fail-on-warn`; it raises on a warning
    # (an endpoint whose request or response it cannot tell, a clashing name, ...).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "api.yaml")
    assert (tmp_path / "api.yaml").read_text().startswith("openapi: 3.")


def test_every_api_route_of_the_project_is_in_the_schema(schema):
    routes = _api_routes()
    assert "/api/queue/deals/" in routes  # the walk does find endpoints
    assert routes - set(schema["paths"]) == set()


def test_every_endpoint_describes_its_request_response_and_error_bodies(schema):
    problems = []
    for path, method, op in _operations(schema):
        where = f"{method.upper()} {path}"
        responses = op.get("responses", {})
        if not op.get("summary"):
            problems.append(f"{where}: no summary")
        if not any(code.startswith("2") for code in responses):
            problems.append(f"{where}: no success response")
        for code, response in responses.items():
            if code in {"204", "304"}:
                continue  # no body by definition
            if "schema" not in response.get("content", {}).get("application/json", {}):
                problems.append(f"{where}: response {code} has no JSON body schema")
        if op.get("security") and {} not in op["security"]:
            problems += [f"{where}: no {c} error" for c in ("401", "403") if c not in responses]
        if "{" in path and "404" not in responses:
            problems.append(f"{where}: takes an id but documents no 404")
        takes_input = "requestBody" in op or any(
            p["in"] == "query" for p in op.get("parameters", [])
        )
        if takes_input and "400" not in responses:
            problems.append(f"{where}: takes input but documents no 400")
        if "requestBody" in op and not all(
            "schema" in media for media in op["requestBody"]["content"].values()
        ):
            problems.append(f"{where}: request body without a schema")
        problems += [
            f"{where}: parameter {p['name']} has no schema"
            for p in op.get("parameters", [])
            if "schema" not in p
        ]
    assert not problems, "\n".join(problems)


def test_real_queue_answers_match_their_documented_bodies(schema, staff_client):
    t0 = timezone.now() - timedelta(minutes=3)
    failed = DealFactory.create(status="failed", current_stage="segmentation", name="")
    PipelineRunFactory.create(deal=failed, stage="intake", attempt=1, started_at=t0)
    PipelineRunFactory.create(
        deal=failed, stage="segmentation", attempt=1, status="failed", error="no", started_at=t0
    )
    running = DealFactory.create(status="running")
    PipelineRunFactory.create(
        deal=running, stage="intake", status="running", ended_at=None, attempt=1
    )
    DealFactory.create_batch(2)

    _assert_documented(schema, "get", "/api/queue/deals/", staff_client.get("/api/queue/deals/"))
    paged = staff_client.get("/api/queue/deals/", {"limit": 1})
    assert paged.json()["next_before"] is not None
    _assert_documented(schema, "get", "/api/queue/deals/", paged)
    bad = staff_client.get("/api/queue/deals/", {"limit": 0, "before": "x", "status": "no"})
    _assert_documented(schema, "get", "/api/queue/deals/", bad)
    _assert_documented(schema, "get", "/api/queue/counts/", staff_client.get("/api/queue/counts/"))


def test_real_deal_answers_match_their_documented_bodies(schema, staff_client, no_broker):
    deal = DealFactory.create(status="failed", amount=None)
    PipelineRunFactory.create(deal=deal, stage="intake", status="failed", error="missing amount")

    _assert_documented(
        schema, "get", "/api/deals/{deal_id}/", staff_client.get(f"/api/deals/{deal.id}/")
    )
    _assert_documented(
        schema,
        "post",
        "/api/deals/{deal_id}/retry/",
        staff_client.post(f"/api/deals/{deal.id}/retry/"),
    )
    _assert_documented(  # now pending: a retry is refused
        schema,
        "post",
        "/api/deals/{deal_id}/retry/",
        staff_client.post(f"/api/deals/{deal.id}/retry/"),
    )
    missing = "/api/deals/00000000-0000-0000-0000-000000000000/"
    _assert_documented(schema, "get", "/api/deals/{deal_id}/", staff_client.get(missing))


def test_real_run_answers_match_their_documented_bodies(schema, staff_client):
    from deals.pipeline import deal_process

    deal = DealFactory.create()
    deal_process(deal_id=deal.id)
    truncated = PipelineRunFactory.create(output="x" * 10, output_truncated=True, log_lines=None)
    path = "/api/runs/{run_id}/"

    for run in [*deal.pipeline_runs.all(), truncated]:
        _assert_documented(schema, "get", path, staff_client.get(f"/api/runs/{run.id}/"))
    missing = "/api/runs/00000000-0000-0000-0000-000000000000/"
    _assert_documented(schema, "get", path, staff_client.get(missing))


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_the_docs_are_for_staff_only(client, django_user_model, url):
    assert client.get(url).status_code == 401

    client.force_login(django_user_model.objects.create_user("visitor"))
    assert client.get(url).status_code == 403

    client.force_login(role_user("operator", "operator"))
    assert client.get(url).status_code == 200


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(staff_client):
    html = staff_client.get("/api/docs/").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset  # no CDN
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not shipped"


@pytest.mark.usefixtures("enqueued")
def test_real_bulk_action_answers_match_their_documented_bodies(schema, staff_client):
    DealFactory.create_batch(2, status="failed", current_stage="appraisal")
    url = "/api/queue/actions/"

    _assert_documented(schema, "get", url, staff_client.get(url, {"status": "failed"}))
    _assert_documented(schema, "get", url, staff_client.get(url, {"status": "nope"}))
    for body in ({"action": "retry", "status": "failed"}, {"action": "retry"}, {"action": "x"}):
        response = staff_client.post(url, body, content_type="application/json")
        _assert_documented(schema, "post", url, response)
