"""Webhooks the simulator sends, as HubSpot would to an app's target URL (`--webhook-url`):
deal.creation and deal.propertyChange of the checked-in property when a deal checks in
(added at run time, trickled), deal.propertyChange when a batch update changes the
checked-in property, and deal.deletion, deal.restore and deal.merge (primaryObjectId,
mergedObjectIds, newObjectId; objectId the new deal) from the deal lifecycle (lifecycle.py).

Each request is a JSON array of up to 100 events, signed with HubSpot's v3 signature
(X-HubSpot-Signature-v3: Base64 HMAC-SHA256 of method + URL + body + timestamp, keyed with
the client secret; X-HubSpot-Request-Timestamp in epoch ms), as ../shared/hubspot-spec/NOTES.md
describes. Written here on its own, not shared with the project's verifier, so that each
checks the other. A request answered other than 2xx (or not at all) is sent again, re-signed,
after 1, 2, 4, 8 s; then its events are dropped (HubSpot retries for a day; the poller is
the safety net). Deliveries are logged for the control endpoint (`GET /_simulator/webhooks`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
from collections import deque
from typing import Any

import requests

from .data import DealRecord

PORTAL_ID = 62515
APP_ID = 54321
SUBSCRIPTIONS = {
    "deal.creation": 1001,
    "deal.propertyChange": 1002,
    "deal.deletion": 1003,
    "deal.restore": 1004,
    "deal.merge": 1005,
}
MAX_EVENTS = 100
RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)
TIMEOUT_SECONDS = 5.0  # HubSpot counts a slower answer as a failure


def sign_v3(*, secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


class WebhookSender:
    def __init__(self, *, url: str, secret: str, checked_in_property: str) -> None:
        self.url = url
        self.secret = secret
        self.checked_in_property = checked_in_property
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._event_ids = itertools.count(int(time.time() * 1000) * 1000)
        self._lock = threading.Lock()
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=2000)
        self.counts = {"events_sent": 0, "requests_ok": 0, "requests_failed": 0, "dropped": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._session = requests.Session()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._session.close()

    # What happened in the CRM.

    def deals_checked_in(self, records: list[DealRecord]) -> None:
        for record in records:
            self._event(record, "deal.creation")
            self._changed(record, self.checked_in_property)

    def deal_changed(self, record: DealRecord, names: list[str]) -> None:
        if self.checked_in_property in names:
            self._changed(record, self.checked_in_property)

    def deal_deleted(self, record: DealRecord) -> None:
        self._event(record, "deal.deletion")

    def deal_restored(self, record: DealRecord) -> None:
        self._event(record, "deal.restore")

    def deals_merged(self, new: DealRecord, *, primary: int, merged: list[int]) -> None:
        self._event(
            new,
            "deal.merge",
            primaryObjectId=primary,
            mergedObjectIds=list(merged),
            newObjectId=new.id,
        )

    def _changed(self, record: DealRecord, name: str) -> None:
        self._event(
            record,
            "deal.propertyChange",
            propertyName=name,
            propertyValue=record.properties.get(name) or "",
        )

    def _event(self, record: DealRecord, kind: str, **extra: Any) -> None:
        self._queue.put(
            {
                "eventId": next(self._event_ids),
                "subscriptionId": SUBSCRIPTIONS[kind],
                "portalId": PORTAL_ID,
                "appId": APP_ID,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": kind,
                "attemptNumber": 0,
                "objectId": record.id,
                "changeSource": "CRM",
                **extra,
            }
        )

    # Delivery.

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            events = [first]
            while len(events) < MAX_EVENTS:
                try:
                    events.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        for attempt, wait in enumerate((*RETRY_WAITS, None)):
            for event in events:
                event["attemptNumber"] = attempt
            if self._post(events, attempt):
                return
            if wait is None or self._stop.wait(wait):
                break
        with self._lock:
            self.counts["dropped"] += len(events)

    def _post(self, events: list[dict[str, Any]], attempt: int) -> bool:
        body = json.dumps(events, separators=(",", ":")).encode()
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(
                secret=self.secret, method="POST", url=self.url, body=body, timestamp=timestamp
            ),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        started = time.monotonic()
        status: int | None = None
        with contextlib.suppress(requests.RequestException):  # no answer: a failure
            status = self._session.post(
                self.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS
            ).status_code
        ok = status is not None and 200 <= status < 300
        with self._lock:
            self.deliveries.append(
                {
                    "sent_at_ms": int(timestamp),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "status": status,
                    "attempt": attempt,
                    "object_ids": sorted({str(e["objectId"]) for e in events}),
                    "events": len(events),
                }
            )
            self.counts["requests_ok" if ok else "requests_failed"] += 1
            if ok:
                self.counts["events_sent"] += len(events)
        return ok

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "url": self.url,
                **self.counts,
                "queued": self._queue.qsize(),
                "deliveries": list(self.deliveries),
            }
