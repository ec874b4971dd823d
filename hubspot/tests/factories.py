"""Test data: HubSpot deal objects as JSON, a fake search endpoint for `responses`, and a
client wired to them that never waits."""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from typing import Any

import responses

from hubspot.client import HubspotClient
from hubspot.ratelimit import RateLimiter
from hubspot.tests.conftest import NoWaitLimiter, RecordedSleeps

TOKEN = "pat-na1-0123-secret-token-do-not-leak"
BASE_URL = "https://api.hubapi.test"
SEARCH_URL = BASE_URL + "/crm/objects/2026-09/deals/search"
BATCH_READ_URL = BASE_URL + "/crm/objects/2026-09/deals/batch/read"
BATCH_UPDATE_URL = BASE_URL + "/crm/objects/2026-09/deals/batch/update"
CHECKED_IN = "checked_in_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 1, 17, 19, 55, 4, 281000, tzinfo=UTC)
SINCE = T0 - timedelta(days=1)
UNTIL = T0 + timedelta(days=1)


def ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def deal_json(deal_id: int | str, *, checked_in: str | None = None, **properties: Any) -> dict:
    props = {
        "hs_object_id": str(deal_id),
        "dealname": f"Deal {deal_id}",
        "amount": "1000.50",
        "dealstage": "qualifiedtobuy",
        "createdate": "2024-01-10T10:00:00.000Z",
        "hs_lastmodifieddate": "2024-01-17T20:00:00.000Z",
        CHECKED_IN: iso(T0) if checked_in is None else checked_in,
    }
    props.update(properties)
    return {
        "id": str(deal_id),
        "properties": props,
        "createdAt": "2024-01-10T10:00:00.000Z",
        "updatedAt": "2024-01-17T20:00:00.000Z",
        "archived": False,
    }


class FakeSearch:
    """Answers deal searches like HubSpot: the checked-in window (GTE/LTE, epoch ms) and
    `hs_object_id GT`, sorted by id, offset paging, and 400 past 10,000 results."""

    def __init__(self, deals: list[tuple[int, datetime]], *, cap: int = 10_000) -> None:
        # (id, checked-in epoch ms, checked-in ISO), computed once: tests page 25,000 deals.
        self.deals = [(deal_id, ms(checked), iso(checked)) for deal_id, checked in sorted(deals)]
        self.ids = [deal_id for deal_id, _, _ in self.deals]
        self.cap = cap
        self.bodies: list[dict] = []
        self.refused = 0

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, SEARCH_URL, callback=self)

    def __call__(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        self.bodies.append(body)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        after, limit = int(body.get("after") or 0), body["limit"]
        if after + limit > self.cap:
            self.refused += 1
            error = {"status": "error", "message": "paging past cap", "category": "VALIDATION"}
            return 400, {}, json.dumps(error)
        low, high, id_after = None, None, None
        for f in body["filterGroups"][0]["filters"]:
            value = int(f["value"])
            if f["propertyName"] == CHECKED_IN:
                low, high = (value, high) if f["operator"] == "GTE" else (low, value)
            elif f["propertyName"] == "hs_object_id":
                assert f["operator"] == "GT"
                id_after = value
        start = 0 if id_after is None else bisect_right(self.ids, id_after)
        low = -1 if low is None else low
        high = 1 << 62 if high is None else high
        matches = [deal for deal in self.deals[start:] if low <= deal[1] <= high]
        page = matches[after : after + limit]
        payload: dict[str, Any] = {
            "total": len(matches),
            "results": [deal_json(deal_id, checked_in=text) for deal_id, _, text in page],
        }
        if after + limit < len(matches):
            payload["paging"] = {"next": {"after": str(after + limit)}}
        return 200, {}, json.dumps(payload)


def make_client(
    sleeps: RecordedSleeps, limiter: RateLimiter | None = None, **kwargs
) -> HubspotClient:
    """A client for BASE_URL (answered by `responses`) that records its sleeps."""
    kwargs.setdefault("general_limiter", NoWaitLimiter())
    return HubspotClient(
        access_token=TOKEN,
        base_url=BASE_URL,
        timeout_seconds=5,
        checked_in_property=CHECKED_IN,
        search_limiter=limiter or NoWaitLimiter(),
        sleep=sleeps,
        rng=random.Random(0),
        **kwargs,
    )


def search_all(client: HubspotClient, since: datetime = SINCE, until: datetime = UNTIL) -> list:
    return list(client.search_checked_in(since=since, until=until))


def page_json(deals: list[dict], *, total: int | None = None, after: str | None = None) -> dict:
    payload: dict = {"total": len(deals) if total is None else total, "results": deals}
    if after is not None:
        payload["paging"] = {"next": {"after": after}}
    return payload
