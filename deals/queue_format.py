"""The operator queue's wire format: the page as JSON, and its ETag.

Built by hand rather than by DRF serializers (apis.QueuePageSerializer documents the same
shape): DRF's field-by-field serializing of 200 deals x 4 steps cost more than both SQL
queries together. Timestamps stay datetimes until written here, in UTC with a "Z" and no
fraction when it is zero, exactly as DRF writes them elsewhere in the API.

The ETag is taken from the page's first query alone (ids, row versions and shown fields
of its deals, and whether a next page exists): an unchanged poll answers 304 without
reading the runs or building the body. That holds because every write of a run writes its
deal in the same transaction (deals/runs.py, deals/pipeline.py); a running deal's duration
is left out of it, as the page script advances running durations itself.
"""

import functools
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils.http import parse_etags

from .selectors import QUEUE_STAGES, QueueDeal, QueuePage, QueueSelection

# Part of every ETag: a change of this format (a field added, a value written otherwise)
# must not be answered 304 to a client holding a page in the old one.
FORMAT_VERSION = b"queue-page/2"

_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def queue_etag(selection: QueueSelection, *, variant: str = "") -> str:
    """A weak ETag for the page these rows make (weak: the body is not byte-for-byte the
    same each time, a running duration grows). `variant` tells representations apart."""
    digest = hashlib.blake2b(FORMAT_VERSION + variant.encode(), digest_size=16)
    for deal_id, hubspot_deal_id, name, status, stage, _, updated_at, version in selection.rows:
        digest.update(deal_id.bytes)
        # The row version (xmin) is new with every committed write of the deal, runs
        # included; updated_at and the shown fields also catch writes made by one
        # transaction, the version of each being that transaction's.
        fields = (version, updated_at.isoformat(), status, stage, hubspot_deal_id, name)
        digest.update("\x1f".join(fields).encode())
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
        self._pages: OrderedDict[str, tuple[float, QueuePage, list[str | None], str]] = (
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
        items = ",".join(
            text if text is not None else _to_json(_item(deal, now))
            for deal, text in zip(page.deals, fixed, strict=True)
        )
        return f'{{"items":[{items}],"next_before":{next_before}}}'.encode()


# A page's 500 to 2,800 timestamps are mostly the ones the last poll wrote (runs that
# ended stay as they were): remembering the text costs less than writing it again.
@functools.lru_cache(maxsize=20_000)
def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()  # the connection's time zone is UTC: "...+00:00"
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# A step never run is the same for every deal: one dict each, shared by every page.
_PENDING = {
    stage: {
        "stage": stage,
        "status": "pending",
        "started_at": None,
        "ended_at": None,
        "pipeline_run_id": None,
        "error": None,
    }
    for stage in QUEUE_STAGES
}


def _item(deal: QueueDeal, now: datetime) -> dict:
    steps = []
    for step in deal.steps:
        if step.pipeline_run_id is None:
            steps.append(_PENDING[step.stage])
            continue
        steps.append(
            {
                "stage": step.stage,
                "status": step.status,
                "started_at": _stamp(step.started_at),
                "ended_at": _stamp(step.ended_at),
                "pipeline_run_id": str(step.pipeline_run_id),
                "error": step.error,
            }
        )
    return {
        "id": str(deal.id),
        "hubspot_deal_id": deal.hubspot_deal_id,
        "name": deal.name,
        "status": deal.status,
        "current_stage": deal.current_stage,
        "created_at": _stamp(deal.created_at),
        "updated_at": _stamp(deal.updated_at),
        "duration_ms": deal.duration_ms(now=now),
        "steps": steps,
    }
