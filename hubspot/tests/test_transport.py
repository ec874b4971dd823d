"""HubspotTransport, through the client: retries and backoff, typed errors, and the token
kept out of errors, reprs and logs. Canned HTTP answers (`responses`), no real waiting."""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any

import pytest
import requests
import responses

from hubspot.tests.factories import (
    BATCH_READ_URL,
    SEARCH_URL,
    TOKEN,
    deal_json,
    make_client,
    page_json,
    search_all,
)
from hubspot.types import HubspotError

# ------------------------------------------------------------------------------
# Retries and errors
# ------------------------------------------------------------------------------

RATE_LIMIT_BODY = {
    "status": "error",
    "message": "You have reached your secondly limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c0ffee",
    "policyName": "SECONDLY",
}


@responses.activate
def test_a_429_with_retry_after_waits_that_long(sleeps):
    responses.post(SEARCH_URL, status=429, json=RATE_LIMIT_BODY, headers={"Retry-After": "3"})
    responses.post(SEARCH_URL, json=page_json([deal_json(1)]))
    client = make_client(sleeps)

    [page] = search_all(client)

    assert sleeps == [3.0]
    assert (page.request_count, page.rate_limited_count) == (2, 1)
    assert (client.request_count, client.rate_limited_count) == (2, 1)


@responses.activate
def test_a_429_without_retry_after_backs_off_exponentially_with_jitter(sleeps):
    for _ in range(3):
        responses.post(SEARCH_URL, status=429, json=RATE_LIMIT_BODY)
    responses.post(SEARCH_URL, json=page_json([deal_json(1)]))

    [page] = search_all(make_client(sleeps, backoff_base_seconds=1.0))

    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        assert 2**attempt / 2 <= wait <= 2**attempt
    assert page.rate_limited_count == 3
    assert len(page.deals) == 1


@responses.activate
def test_429s_past_the_retry_budget_raise_a_transient_rate_limit_error(sleeps):
    responses.post(SEARCH_URL, status=429, json=RATE_LIMIT_BODY)
    client = make_client(sleeps, max_retries=2)

    with pytest.raises(HubspotError) as caught:
        search_all(client)

    assert caught.value.status == 429
    assert caught.value.category == "RATE_LIMIT"
    assert caught.value.transient is True
    assert caught.value.correlation_id == "c0ffee"
    assert len(responses.calls) == 3
    assert client.rate_limited_count == 3


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_then_raises(sleeps, status):
    responses.post(SEARCH_URL, status=status, body="<html>bad gateway</html>")

    with pytest.raises(HubspotError) as caught:
        search_all(make_client(sleeps, max_retries=5))

    assert len(responses.calls) == 6
    assert len(sleeps) == 5
    assert caught.value.status == status
    assert caught.value.transient is True
    assert "bad gateway" in caught.value.body_excerpt


@responses.activate
def test_a_5xx_then_success_returns_the_results(sleeps):
    responses.post(SEARCH_URL, status=502, body="bad gateway")
    responses.post(SEARCH_URL, json=page_json([deal_json(1)]))

    [page] = search_all(make_client(sleeps))

    assert [d.hubspot_deal_id for d in page.deals] == ["1"]
    assert page.request_count == 2 and page.rate_limited_count == 0


@responses.activate
def test_401_raises_at_once_with_a_clear_message(sleeps):
    responses.post(
        SEARCH_URL,
        status=401,
        json={
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
            "correlationId": "abc",
        },
    )

    with pytest.raises(HubspotError) as caught:
        search_all(make_client(sleeps))

    assert len(responses.calls) == 1 and sleeps == []
    assert caught.value.status == 401
    assert caught.value.message.startswith("HubSpot rejected the access token (401): check")
    assert "HubSpot rejected the access token (401)" in str(caught.value)
    assert caught.value.transient is False


@responses.activate
def test_other_4xx_raise_at_once_with_hubspots_details_and_a_short_body(sleeps):
    body = {
        "status": "error",
        "message": "Invalid input JSON " + "x" * 2000,
        "correlationId": "corr-1",
        "category": "VALIDATION_ERROR",
    }
    responses.post(SEARCH_URL, status=400, json=body)

    with pytest.raises(HubspotError) as caught:
        search_all(make_client(sleeps))

    error = caught.value
    assert len(responses.calls) == 1
    assert (error.status, error.category, error.correlation_id) == (
        400,
        "VALIDATION_ERROR",
        "corr-1",
    )
    assert error.message.startswith("Invalid input JSON")
    assert len(error.body_excerpt) == 500
    assert len(str(error)) < 500


@responses.activate
@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (requests.Timeout("read timed out"), "TIMEOUT"),
        (requests.ConnectTimeout("connect timed out"), "TIMEOUT"),
        (requests.ConnectionError("connection refused"), "CONNECTION_ERROR"),
    ],
)
def test_timeouts_and_connection_errors_are_retried_then_raise(sleeps, exception, category):
    responses.post(SEARCH_URL, body=exception)

    with pytest.raises(HubspotError) as caught:
        search_all(make_client(sleeps, max_retries=3))

    assert len(responses.calls) == 4
    assert len(sleeps) == 3
    assert caught.value.status is None
    assert caught.value.category == category
    assert caught.value.transient is True
    # Never chained: the requests exception holds the request and its Authorization header.
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@responses.activate
def test_a_timeout_then_success_returns_the_results(sleeps):
    responses.post(SEARCH_URL, body=requests.ReadTimeout("slow"))
    responses.post(SEARCH_URL, json=page_json([deal_json(9)]))

    [page] = search_all(make_client(sleeps))

    assert [d.hubspot_deal_id for d in page.deals] == ["9"]


@responses.activate
def test_malformed_json_in_a_200_is_retried_then_raises(sleeps):
    responses.post(SEARCH_URL, body='{"total": 3, "results": [{"id"', status=200)

    with pytest.raises(HubspotError) as caught:
        search_all(make_client(sleeps, max_retries=2))

    assert len(responses.calls) == 3
    assert caught.value.category == "MALFORMED_RESPONSE"
    assert caught.value.transient is True


@responses.activate
def test_malformed_json_then_good_json_returns_the_results(sleeps):
    responses.post(SEARCH_URL, body="[1, 2", status=200)
    responses.post(SEARCH_URL, json=page_json([deal_json(4)]))

    [page] = search_all(make_client(sleeps))

    assert [d.hubspot_deal_id for d in page.deals] == ["4"]
    assert page.request_count == 2


@responses.activate
def test_the_token_never_appears_in_errors_reprs_or_logs(sleeps, caplog):
    client = make_client(sleeps, max_retries=1)
    # A hostile or buggy server echoing the token back in an error body.
    echo = {"status": "error", "message": f"bad token {TOKEN}", "category": "X"}
    scenarios: list[tuple[int | None, dict[str, Any]]] = [
        (401, {"json": echo}),
        (403, {"json": echo}),
        (400, {"body": f"plain text {TOKEN}"}),
        (500, {"json": echo}),
        (429, {"json": echo}),
        (200, {"body": f'{{"broken {TOKEN}'}),
        (None, {"body": requests.ConnectionError("refused")}),
        (None, {"body": requests.Timeout("slow")}),
    ]
    errors = []
    with caplog.at_level(logging.DEBUG):
        for status, kwargs in scenarios:
            responses.reset()
            if status is None:
                responses.post(SEARCH_URL, **kwargs)
            else:
                responses.post(SEARCH_URL, status=status, **kwargs)
            with pytest.raises(HubspotError) as caught:
                search_all(client)
            errors.append(caught.value)

    assert len(errors) == len(scenarios)
    for error in errors:
        texts = [
            str(error),
            repr(error),
            repr(error.args),
            error.message,
            error.body_excerpt,
            "".join(traceback.format_exception(error)),
        ]
        assert all(TOKEN not in text for text in texts)
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert "[redacted]" in repr(client)


def test_a_hubspot_error_survives_pickling():
    error = HubspotError(
        status=429, category="RATE_LIMIT", message="slow down", correlation_id="c", transient=True
    )

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.status, copy.category, copy.message, copy.correlation_id, copy.transient) == (
        429,
        "RATE_LIMIT",
        "slow down",
        "c",
        True,
    )
    assert str(copy) == str(error)


@responses.activate
def test_the_bearer_token_is_sent_on_every_call(sleeps):
    responses.post(BATCH_READ_URL, json={"status": "COMPLETE", "results": [deal_json(1)]})

    make_client(sleeps).read_deals(["1"])

    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
