"""`HubspotClient.update_deals` when the account's validation rules refuse inputs (HubSpot
enforces them on API writes from 2026-09): per input in a 207, or the whole batch in a 400."""

from __future__ import annotations

import json

import pytest
import responses

from hubspot.tests.factories import BATCH_UPDATE_URL, deal_json, make_client
from hubspot.types import HubspotError

RULE = "Property values were not valid: closedate is required for deals in this stage"


def validation_error(ids: list[str] | None = None) -> dict:
    error: dict[str, object] = {"status": "error", "category": "VALIDATION_ERROR", "message": RULE}
    if ids is not None:
        error["context"] = {"ids": ids}
    return error


def hubspot_refusing(refused: set[str], *, whole_batch: bool):
    """A batch update endpoint whose rules refuse `refused`: per input (207) or the batch."""

    def answer(request):
        inputs = json.loads(request.body)["inputs"]
        ids = [item["id"] for item in inputs]
        if whole_batch and refused & set(ids):
            return 400, {}, json.dumps({**validation_error(), "correlationId": "c1"})
        results = [deal_json(i) for i in ids if i not in refused]
        errors = [validation_error([i]) for i in ids if i in refused]
        body = {"status": "COMPLETE", "results": results, "numErrors": len(errors)}
        return (207 if errors else 200), {}, json.dumps({**body, "errors": errors})

    return answer


@responses.activate
def test_inputs_refused_in_a_207_are_refused_with_hubspots_message_and_the_rest_written(sleeps):
    responses.add_callback(
        responses.POST, BATCH_UPDATE_URL, callback=hubspot_refusing({"3", "7"}, whole_batch=False)
    )

    result = make_client(sleeps).update_deals([(str(i), {"vcc": "done"}) for i in range(10)])

    assert len(responses.calls) == 1 and sleeps == []
    assert sorted(result.updated_ids) == sorted(str(i) for i in range(10) if i not in (3, 7))
    assert result.missing_ids == []
    assert [(r.hubspot_deal_id, r.category, r.message) for r in result.refused] == [
        ("3", "VALIDATION_ERROR", RULE),
        ("7", "VALIDATION_ERROR", RULE),
    ]


@responses.activate
def test_a_batch_refused_whole_is_halved_until_the_offender_is_alone(sleeps):
    responses.add_callback(
        responses.POST, BATCH_UPDATE_URL, callback=hubspot_refusing({"42"}, whole_batch=True)
    )

    result = make_client(sleeps).update_deals([(str(i), {"vcc": "done"}) for i in range(100)])

    assert [r.hubspot_deal_id for r in result.refused] == ["42"]
    assert result.refused[0].message == RULE
    assert len(result.updated_ids) == 99 and "42" not in result.updated_ids
    # One offender among 100: about 2 requests per halving (7 halvings), not 100.
    assert len(responses.calls) <= 1 + 2 * 7
    assert result.request_count == len(responses.calls)
    assert sleeps == []  # a rule does not change by waiting: no backoff


@responses.activate
def test_two_offenders_in_a_refused_batch_are_both_found(sleeps):
    responses.add_callback(
        responses.POST, BATCH_UPDATE_URL, callback=hubspot_refusing({"5", "80"}, whole_batch=True)
    )

    result = make_client(sleeps).update_deals([(str(i), {"vcc": "done"}) for i in range(100)])

    assert sorted(r.hubspot_deal_id for r in result.refused) == ["5", "80"]
    assert len(result.updated_ids) == 98


@responses.activate
def test_a_400_that_is_not_a_validation_error_still_raises(sleeps):
    error = {"status": "error", "category": "INVALID_PARAMS", "message": "bad json"}
    responses.post(BATCH_UPDATE_URL, status=400, json=error)

    with pytest.raises(HubspotError) as caught:
        make_client(sleeps).update_deals([("1", {"vcc": "done"}), ("2", {"vcc": "done"})])

    assert caught.value.category == "INVALID_PARAMS" and len(responses.calls) == 1
