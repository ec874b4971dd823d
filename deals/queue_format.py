"""The operator queue's wire format: the page as JSON, its ETag, and the answer to a poll
(`queue_page_response`: 304, a page built or reused, or DRF's browsable page).

Built by hand rather than by DRF serializers (queue_apis.QueuePageSerializer documents the
shape): DRF's field-by-field serializing of 200 deals x 4 steps cost more than both SQL
queries together. Written by orjson, whose C encoder writes ids and timestamps itself (the
standard library's json, with str() of each, cost as much as the page's SQL): timestamps
in UTC with a "Z" and no fraction when it is zero, exactly as DRF writes them elsewhere in
the API.

The ETag is taken from the page's first query alone (ids, row versions and shown fields
of its deals, whether a next page exists) and the view asked for (the `hubspot_state`
filter, so a validator never passes from one view to another, even while both hold the
same rows, or none): an unchanged poll answers 304 without reading the runs or building
the body. That holds because every write of a run writes its deal in the same
transaction (deals/services/runs.py), and an archive, restore or merge writes
the deal's row too (its row leaves one view's page and joins another's); a running deal's
duration is left out of it, as the page script advances running durations itself.
"""

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import orjson
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.http import parse_etags
from rest_framework.response import Response

from .queue_selectors import QueueDeal, QueuePage, QueueSelection, deal_queue_page_from
from .rules import deal_actions

# Part of every ETag: a change of this format (a field added, a value written otherwise)
# must not be answered 304 to a client holding a page in the old one.
FORMAT_VERSION = b"queue-page/4"  # 4: actions


def _to_json(value: object) -> bytes:
    # The connection's time zone is UTC (USE_TZ): "+00:00" is written "Z", as DRF does.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


def queue_etag(selection: QueueSelection, *, hubspot_state: str, variant: str = "") -> str:
    """A weak ETag for the page these rows make (weak: the body is not byte-for-byte the
    same each time, a running duration grows) in the view `hubspot_state` asks for.
    `variant` tells representations apart."""
    view = f"{variant}|{hubspot_state}".encode()
    digest = hashlib.blake2b(FORMAT_VERSION + view, digest_size=16)
    # Every row whole: its id, the shown fields, and the row version (xmin), new with every
    # committed write of the deal, runs included; updated_at and the shown fields also catch
    # writes made by one transaction, the version of each being that transaction's.
    digest.update(orjson.dumps(selection.rows))
    digest.update(b"+" if selection.has_more else b".")
    return f'W/"{digest.hexdigest()}"'


def etag_matches(etag: str, if_none_match: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2), as If-None-Match asks for."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    return "*" in tags or any(tag.removeprefix("W/") == etag.removeprefix("W/") for tag in tags)


def queue_page_data(page: QueuePage, *, now: datetime) -> dict:
    """The page as QueuePageSerializer documents it; durations of running deals to `now`."""
    return {
        "items": [_item(deal, now) for deal in page.deals],
        "next_before": page.next_before.encode() if page.next_before else None,
    }


class RecentPages:
    """Pages this process built lately, by ETag, ready to write again.

    Many open pages poll the same first page; when a deal on it changes, each of them gets
    a 200 on its next poll. Their ETag names the same page (every change of a deal or its
    runs changes it), so the first request reads the runs and encodes the deals, and the
    others reuse that: each then costs the first query alone, like a 304. Running deals are
    encoded again on every answer, so their durations are always to now.
    """

    def __init__(self, *, seconds: float | None = None, size: int = 64) -> None:
        # None: QUEUE_PAGE_REUSE_SECONDS, read on each call (0 builds every page afresh).
        self._seconds, self.size = seconds, size
        self._pages: OrderedDict[str, tuple[float, QueuePage, list[bytes | None], bytes]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def body(self, etag: str, build: Callable[[], QueuePage], *, now: datetime) -> bytes:
        """The page named by `etag` as JSON (queue_page_data's shape, compact); `build`
        reads it when it is not at hand."""
        seconds = settings.QUEUE_PAGE_REUSE_SECONDS if self._seconds is None else self._seconds
        with self._lock:
            entry = self._pages.get(etag)
        if entry is None or time.monotonic() - entry[0] > seconds:
            page = build()
            # Finished deals' text holds until the ETag changes; running ones' does not.
            fixed = [None if deal.is_open else _to_json(_item(deal, now)) for deal in page.deals]
            next_before = _to_json(page.next_before.encode() if page.next_before else None)
            entry = (time.monotonic(), page, fixed, next_before)
            with self._lock:
                self._pages[etag] = entry
                self._pages.move_to_end(etag)
                while len(self._pages) > self.size:
                    self._pages.popitem(last=False)
        _, page, fixed, next_before = entry
        items = b",".join(
            text if text is not None else _to_json(_item(deal, now))
            for deal, text in zip(page.deals, fixed, strict=True)
        )
        return b'{"items":[%s],"next_before":%s}' % (items, next_before)


def _item(deal: QueueDeal, now: datetime) -> dict:
    return {
        "id": deal.id,
        "hubspot_deal_id": deal.hubspot_deal_id,
        "name": deal.name,
        "status": deal.status,
        "current_stage": deal.current_stage,
        "hubspot_state": deal.hubspot_state,
        "merged_into_hubspot_deal_id": deal.merged_into_hubspot_deal_id,
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
        "duration_ms": deal.duration_ms(now=now),
        "steps": deal.steps,  # already in the page's shape (queue_selectors.QueueStep)
        "actions": deal_actions(
            status=deal.status,
            current_stage=deal.current_stage,
            hubspot_state=deal.hubspot_state,
            merged_into=deal.merged_into_hubspot_deal_id,
        ),
    }


# Pages built lately, shared by the pollers that ask for the same one (justified by
# bench/queue_layers.py).
_recent_pages = RecentPages()


def queue_page_response(
    *,
    selection: QueueSelection,
    hubspot_state: str,
    if_none_match: str,
    browsable: bool,
    now: datetime,
) -> HttpResponseBase:
    """The page's answer: 304 when the client has it (decided on the first query alone:
    no runs read, no body built; justified by bench/queue_layers.py), else the page, built
    or reused, or DRF's browsable page for a browser."""
    etag = queue_etag(selection, hubspot_state=hubspot_state, variant="html" if browsable else "")
    if etag_matches(etag, if_none_match):
        return _with_cache_headers(HttpResponseNotModified(), etag)
    if browsable:
        page = deal_queue_page_from(selection=selection)
        return _with_cache_headers(Response(queue_page_data(page, now=now)), etag)
    body = _recent_pages.body(etag, lambda: deal_queue_page_from(selection=selection), now=now)
    return _with_cache_headers(HttpResponse(body, content_type="application/json"), etag)


def _with_cache_headers(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    response["ETag"] = etag
    # Staff-only data: caches may keep it per user but must ask us before reusing it.
    response["Cache-Control"] = "private, no-cache"
    return response
