"""HubSpot's daily limit and rate headers (hubspot/quota.py, hubspot/transport.py): a DAILY
429 stops every process's calls until the reset; the general limiter follows what HubSpot's
answers say; a 403 names the missing scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses

from hubspot.quota import STOP_KEY, build_daily_quota, next_reset
from hubspot.ratelimit import build_general_rate_limiter
from hubspot.tests.factories import BATCH_READ_URL, SEARCH_URL, make_client, page_json
from hubspot.types import HubspotError

DAILY_429 = {
    "status": "error",
    "message": "You have reached your daily limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c1",
    "policyName": "DAILY",
}


def search(client) -> list:
    now = datetime.now(UTC)
    return list(client.search_checked_in(since=now - timedelta(days=1), until=now))


@responses.activate
@pytest.mark.usefixtures("account_at_noon")
def test_a_daily_429_stops_every_process_until_the_limit_resets(sleeps):
    responses.post(SEARCH_URL, status=429, json=DAILY_429)
    first = make_client(sleeps, quota=build_daily_quota())

    with pytest.raises(HubspotError) as caught:
        search(first)

    # No retry: waiting seconds does not bring the day's calls back.
    assert len(responses.calls) == 1 and sleeps == []
    assert caught.value.category == "DAILY_LIMIT"
    assert str(caught.value.message).startswith(
        "HubSpot's daily API limit is reached: calls resume at "
    )
    # Another process (its own client and connection to Redis) sends nothing.
    other = make_client(sleeps, quota=build_daily_quota())
    with pytest.raises(HubspotError) as refused:
        other.read_deals(["1"])
    assert refused.value.category == "DAILY_LIMIT" and len(responses.calls) == 1
    assert build_daily_quota().status().stopped_until is not None


@responses.activate
@pytest.mark.usefixtures("account_at_noon")
def test_calls_resume_once_the_reset_has_passed(sleeps):
    quota = build_daily_quota()
    quota.stop()
    responses.post(SEARCH_URL, json=page_json([]))
    with pytest.raises(HubspotError):
        search(make_client(sleeps, quota=quota))
    reset = next_reset(now=datetime.now(UTC), time_zone=quota.time_zone)  # the account's
    assert quota.stopped_until(now=reset) is None

    # The reset: the flag says a time now past (Redis expires the key at that time).
    quota._redis.set(STOP_KEY, f"{datetime.now(UTC).timestamp() - 1:.3f}")
    assert search(make_client(sleeps, quota=quota)) != []
    assert len(responses.calls) == 1


def test_the_reset_is_midnight_in_the_accounts_time_zone():
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert next_reset(now=now, time_zone="UTC") == datetime(2026, 12, 8, tzinfo=UTC)
    # 22:00 the day before in New York: its midnight is 05:00 UTC.
    assert next_reset(now=now, time_zone="America/New_York") == datetime(
        2026, 12, 7, 5, 0, tzinfo=UTC
    )


@responses.activate
def test_the_general_limiter_follows_hubspots_headers_up_to_the_setting(sleeps):
    limiter = build_general_rate_limiter(per_10s=100, key="test:hubspot:general")
    client = make_client(sleeps, general_limiter=limiter, quota=build_daily_quota())
    headers = {
        "X-HubSpot-RateLimit-Max": "50",
        "X-HubSpot-RateLimit-Remaining": "49",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": "250000",
        "X-HubSpot-RateLimit-Daily-Remaining": "1234",
    }
    responses.post(BATCH_READ_URL, json={"status": "COMPLETE", "results": []}, headers=headers)

    client.read_deals(["1"])
    assert limiter.rate == pytest.approx(5.0)  # 50 per 10 s
    status = build_daily_quota().status()
    assert (status.limit, status.remaining) == (250000, 1234)

    # Professional's 190 per 10 s: never above the configured ceiling (100).
    responses.replace(
        responses.POST,
        BATCH_READ_URL,
        json={"status": "COMPLETE", "results": []},
        headers={**headers, "X-HubSpot-RateLimit-Max": "190"},
    )
    client.read_deals(["1"])
    assert limiter.rate == pytest.approx(10.0)


@responses.activate
def test_a_403_names_the_missing_scope(sleeps):
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "category": "MISSING_SCOPES",
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": ["crm.objects.deals.read"]},
            }
        ],
    }
    responses.post(SEARCH_URL, status=403, json=body)

    with pytest.raises(HubspotError) as caught:
        search(make_client(sleeps))

    assert len(responses.calls) == 1
    assert "lacks the scope crm.objects.deals.read" in caught.value.message
