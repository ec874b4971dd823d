"""Paging through one HubSpot search, every matching deal exactly once.

Results are sorted by hs_object_id ascending. HubSpot pages with `after` (an offset) and
refuses offsets past 10,000, so before the next page would cross that line a new query
starts with `hs_object_id GT <last id seen>`; this holds however many deals share one
timestamp (a calendar split would not).

Offsets shift if deals enter or leave the result set while we page (search is eventually
consistent; deals keep arriving). So a page whose `total` differs from the query's first
page is not trusted: it is dropped and a new query resumes after the last id returned, and
any id not above the last one returned is skipped. Deals that become visible behind the
cursor during the call are left to the next poll's overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from .parsing import as_int, object_id
from .transport import Reply
from .types import HubspotDeal, InvalidRecord, SearchPage

logger = logging.getLogger(__name__)

SEARCH_RESULT_CAP = 10_000  # HubSpot answers 400 when paging past this many results per query


def search_body(
    *,
    filters: list[dict[str, str]],
    properties: list[str],
    page_size: int,
    after_id: int | None,
    after: str | None,
) -> dict[str, Any]:
    """One search request's body: `filters` (datetime values as epoch-ms strings, as HubSpot
    takes them), plus the query's `hs_object_id GT` bound, sorted by id, from offset `after`."""
    if after_id is not None:
        filters = [
            *filters,
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
        ]
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": properties,
        "limit": page_size,
        # Required by HubSpot's spec (PublicObjectSearchRequest): "0" is the first page.
        "after": "0" if after is None else after,
    }


# Sends one search request: the query's `hs_object_id GT` bound and the page's offset.
Send = Callable[[int | None, str | None], Reply]


def search_pages(
    *, send: Send, parse: Callable[[Any], HubspotDeal | InvalidRecord], page_size: int
) -> Iterator[SearchPage]:
    last_id: int | None = None
    query_number = 0
    # Requests spent on pages that were dropped, carried into the next page's counts.
    spent_requests = spent_throttled = 0
    while True:
        query_number += 1
        query_after_id = last_id  # fixed for the whole query; `after` pages within it
        after: str | None = None
        query_total: int | None = None
        while True:
            reply = send(query_after_id, after)
            data = reply.data or {}
            spent_requests += reply.request_count
            spent_throttled += reply.rate_limited_count
            results = data.get("results") or []
            total = as_int(data.get("total"), default=len(results))
            if query_total is not None and total != query_total:
                logger.info(
                    "hubspot_search_results_shifted",
                    extra={"query_total": query_total, "total": total, "after": after},
                )
                break  # a new query resumes after last_id
            query_total = total

            deals: list[HubspotDeal] = []
            invalid: list[InvalidRecord] = []
            for obj in results:
                number = as_int(object_id(obj), default=None)
                if number is not None:
                    if last_id is not None and number <= last_id:
                        continue  # already returned by an earlier page
                    last_id = number
                parsed = parse(obj)
                if isinstance(parsed, HubspotDeal):
                    deals.append(parsed)
                else:
                    invalid.append(parsed)
            yield SearchPage(
                deals=deals,
                invalid=invalid,
                request_count=spent_requests,
                rate_limited_count=spent_throttled,
                total=total,
                query_number=query_number,
            )
            spent_requests = spent_throttled = 0

            next_after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not results or not next_after:
                return
            offset = as_int(next_after, default=None)
            if offset is None or offset + page_size > SEARCH_RESULT_CAP:
                # Near the cap (or an opaque cursor we cannot reason about): new query.
                break
            after = str(next_after)
