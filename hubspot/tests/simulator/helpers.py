"""Helpers for the simulator's tests: raw HTTP sessions, searches and our client against a
running simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from hubspot.client import HubspotClient
from hubspot.simulator.process import RunningSimulator
from hubspot.tests.conftest import NoWaitLimiter, RecordedSleeps

SEARCH = "/crm/objects/2026-09/deals/search"
CHECKED_IN = "checked_in_at"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WIDE = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2100, 1, 1, tzinfo=UTC)}


def session_for(sim: RunningSimulator, token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token or sim.token}"
    return session


def search(session: requests.Session, sim: RunningSimulator, **body) -> requests.Response:
    return session.post(sim.base_url + SEARCH, json=body, timeout=10)


def all_deals(session: requests.Session, sim: RunningSimulator) -> list[dict]:
    """Every deal, by paging an unfiltered search."""
    deals: list[dict] = []
    after = None
    properties = ["dealname", "amount", "dealstage", CHECKED_IN]
    while True:
        body = {"limit": 200, "properties": properties, **({"after": after} if after else {})}
        page = search(session, sim, **body).json()
        deals += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return deals


def ms(text: str) -> int:
    if text.isdigit():
        return int(text)
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


def sim_client(sim: RunningSimulator, **kwargs) -> HubspotClient:
    kwargs.setdefault("search_limiter", NoWaitLimiter())
    kwargs.setdefault("sleep", RecordedSleeps())
    kwargs.setdefault("general_limiter", NoWaitLimiter())
    kwargs.setdefault("access_token", sim.token)
    return HubspotClient(
        base_url=sim.base_url,
        timeout_seconds=5,
        checked_in_property=CHECKED_IN,
        **kwargs,
    )
