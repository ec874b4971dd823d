"""HubSpot's official Python SDK against the simulator: it parses every answer our
client relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hubspot.tests.simulator.helpers import CHECKED_IN

# Run in a fresh interpreter with -P and from another directory: our Django app is also
# called `hubspot` and would shadow the SDK's package of the same name on sys.path.
_SDK_SCRIPT = """
import json, sys
from hubspot import HubSpot
from hubspot.crm.deals import (
    ApiException, BatchInputSimplePublicObjectBatchInput, BatchReadInputSimplePublicObjectId,
    Filter, FilterGroup, PublicObjectSearchRequest, SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
base_url, token = sys.argv[1], sys.argv[2]
deals = HubSpot(access_token=token, host=base_url).crm.deals
found = deals.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(
    filter_groups=[FilterGroup(filters=[
        Filter(property_name="checked_in_at", operator="GTE", value="0"),
        Filter(property_name="hs_object_id", operator="GT", value="0"),
    ])],
    sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    properties=["dealname", "amount", "checked_in_at"], limit=5,
))
ids = [r.id for r in found.results]
one = deals.basic_api.get_by_id(deal_id=ids[0], properties=["dealname", "checked_in_at"])
read = deals.batch_api.read(batch_read_input_simple_public_object_id=(
    BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in [ids[1], "404404"]],
        properties=["dealname"], properties_with_history=[],
    )
))
updated = deals.batch_api.update(batch_input_simple_public_object_batch_input=(
    BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=ids[2], properties={"dealstage": "closedwon"}),
    ])
))
try:
    HubSpot(access_token="wrong", host=base_url).crm.deals.basic_api.get_by_id(deal_id=ids[0])
    refused = None
except ApiException as exc:
    refused = exc.status
print(json.dumps({
    "search": {"type": type(found).__name__, "total": found.total, "ids": ids,
               "after": found.paging.next.after,
               "created_at": type(found.results[0].created_at).__name__,
               "properties": found.results[0].properties},
    "get": {"type": type(one).__name__, "id": one.id, "name": one.properties["dealname"],
            "updated_at": type(one.updated_at).__name__},
    "read": {"type": type(read).__name__, "ids": [r.id for r in read.results],
             "errors": [[e.category, e.context] for e in read.errors], "status": read.status},
    "update": {"type": type(updated).__name__, "ids": [r.id for r in updated.results],
               "stage": updated.results[0].properties["dealstage"]},
    "refused": refused,
}))
"""


def test_the_official_sdk_parses_the_simulators_answers(shared_simulator, tmp_path):
    sim = shared_simulator
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    run = subprocess.run(
        [sys.executable, "-P", "-c", _SDK_SCRIPT, sim.base_url, sim.token],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    search_result = out["search"]
    assert search_result["type"] == "CollectionResponseWithTotalSimplePublicObjectForwardPaging"
    assert search_result["total"] == 300 and len(search_result["ids"]) == 5
    assert search_result["after"] == "5"
    assert search_result["created_at"] == "datetime"
    assert {"dealname", "amount", CHECKED_IN, "hs_object_id"} <= set(search_result["properties"])
    assert out["get"]["type"] == "SimplePublicObjectWithAssociations"
    assert out["get"]["id"] == search_result["ids"][0] and out["get"]["name"]
    assert out["get"]["updated_at"] == "datetime"
    assert out["read"]["type"] == "BatchResponseSimplePublicObjectWithErrors"
    assert out["read"]["ids"] == [search_result["ids"][1]]
    assert out["read"]["errors"] == [["OBJECT_NOT_FOUND", {"ids": ["404404"]}]]
    assert out["read"]["status"] == "COMPLETE"
    assert out["update"]["type"] == "BatchResponseSimplePublicObject"
    assert out["update"]["ids"] == [search_result["ids"][2]]
    assert out["update"]["stage"] == "closedwon"
    assert out["refused"] == 401
