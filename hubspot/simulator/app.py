"""The simulator's behaviour, independent of HTTP: routes, auth, rate limit, faults, control.

`SimulatorApp.handle(Request) -> Answer` is everything the HTTP server does; `server.py` only
moves bytes. Answers follow HubSpot's spec (deals.json) and NOTES.md.

CRM API (bearer token required):
    POST /crm/v3/objects/deals/search        (also /crm/v3/objects/0-3/search)
    POST /crm/v3/objects/deals/batch/read    200, or 207 with errors[] for missing ids
    POST /crm/v3/objects/deals/batch/update  200, or 207 with errors[] for missing ids
    GET  /crm/v3/objects/deals/{id}?properties=a,b   404 when missing

Control (no token, loopback clients only):
    GET  /_simulator/stats          requests by endpoint, responses by status, 429s, faults
    POST /_simulator/stats/reset
    GET  /_simulator/config         the knobs (see config.py)
    POST /_simulator/config         {"knob": value, ...}: change knobs while running
    POST /_simulator/deals          {"count": n, "checked_in_at": ISO|epoch-ms, "properties": {}}
                                    adds deals now; answers {"ids": [...]}
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import SimulatorConfig
from .data import DealFactory, DealRecord, generate_deals, iso
from .search import IndexEntry, SearchValidationError, datetime_ms, parse_search_request
from .store import DealStore

BATCH_LIMIT = 100
MAX_ADDED_PER_CALL = 100_000
# What HubSpot returns for deals when no properties are asked for, and always with search.
DEFAULT_PROPERTIES = (
    "dealname",
    "amount",
    "closedate",
    "pipeline",
    "dealstage",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
)
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_API_PATH = re.compile(r"^/crm/v3/objects/(?:deals|0-3)(?P<rest>/[^?]*)?$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client_host: str


@dataclass
class Answer:
    status: int = 200
    payload: Any = None  # serialised as JSON unless `raw` is set
    raw: bytes | None = None
    content_type: str = "application/json;charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # wait before answering (latency, simulated timeouts)
    disconnect: bool = False  # close the connection without answering

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, separators=(",", ":")).encode()


def error_answer(status: int, category: str, message: str, **extra: Any) -> Answer:
    payload = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return Answer(status=status, payload=payload)


class _BadRequest(Exception):
    def __init__(self, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class SimulatorApp:
    def __init__(
        self,
        *,
        store: DealStore,
        factory: DealFactory,
        config: SimulatorConfig,
        token: str,
        seed: int = 1,
        same_second_at: datetime | None = None,
    ) -> None:
        self.store = store
        self.factory = factory
        self.config = config
        self.token = token
        self.same_second_at = same_second_at
        self.started_at = datetime.now(UTC)
        self._faults_rng = random.Random(f"faults-{seed}")
        self._lock = threading.Lock()  # counters, the fault RNG, the rate limiter
        self._factory_lock = threading.Lock()
        self._tat = 0.0  # the search limiter's theoretical arrival time (GCRA)
        self._reset_counters()
        self._stop = threading.Event()
        self._trickle_thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------
    # Entry point
    # ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Answer:
        if request.path.startswith("/_simulator/"):
            return self._control(request)
        match = _API_PATH.match(request.path)
        endpoint, handler = self._route(request.method, match.group("rest") if match else None)
        with self._lock:
            self._requests[endpoint] += 1
        answer = self._api(request, endpoint, handler)
        with self._lock:
            self._responses[str(answer.status)] += 1
        return answer

    def _route(self, method: str, rest: str | None) -> tuple[str, Any]:
        if rest == "/search" and method == "POST":
            return "search", self._search
        if rest == "/batch/read" and method == "POST":
            return "batch_read", self._batch_read
        if rest == "/batch/update" and method == "POST":
            return "batch_update", self._batch_update
        if rest and rest.count("/") == 1 and not rest.startswith("/batch") and method == "GET":
            return "get_deal", self._get_deal
        return "unknown", None

    def _api(self, request: Request, endpoint: str, handler: Any) -> Answer:
        config = self.config
        delay = config.latency_ms / 1000
        if not self._authorized(request.headers):
            answer = error_answer(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)
            answer.delay_seconds = delay
            return answer
        if handler is None:
            answer = error_answer(404, "OBJECT_NOT_FOUND", f"No route for {request.path}")
            answer.delay_seconds = delay
            return answer
        if endpoint == "search" and not self._admit_search():
            answer = self._rate_limited()
            answer.delay_seconds = delay
            return answer

        fault = self._roll_fault()
        if fault == "500":
            answer = error_answer(500, "INTERNAL_ERROR", "An internal error occurred.")
        elif fault == "502":
            answer = Answer(
                status=502,
                raw=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        elif fault == "disconnect":
            answer = Answer(disconnect=True)
        else:
            try:
                answer = handler(request)
            except _BadRequest as exc:
                answer = error_answer(400, exc.category, exc.message)
            if fault == "timeout":
                # Held past the client's timeout; it has given up by the time this is sent.
                delay += config.timeout_hold_seconds
            elif answer.status in (200, 207) and self._roll(config.malformed_share):
                body = answer.body()
                answer.raw = body[: max(1, len(body) // 2)]
                self._count_fault("malformed")
        answer.delay_seconds = delay
        return answer

    # ------------------------------------------------------------------------------
    # Auth, rate limit, faults
    # ------------------------------------------------------------------------------

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(token.strip().encode(), self.token.encode())

    def _admit_search(self) -> bool:
        """GCRA: `search_rps` per second with a burst of `search_burst`; refused requests
        do not use up the budget (as with HubSpot, a 429 costs nothing)."""
        rps = self.config.search_rps
        if rps <= 0:
            return True
        interval = 1.0 / rps
        tolerance = (self.config.search_burst - 1) * interval
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            if now < tat - tolerance:
                self._rate_limited_served += 1
                return False
            self._tat = tat + interval
            return True

    def _rate_limited(self) -> Answer:
        answer = Answer(
            status=429,
            payload={
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            },
        )
        if self.config.retry_after_seconds > 0:
            answer.headers["Retry-After"] = f"{self.config.retry_after_seconds:g}"
        return answer

    def _roll(self, share: float) -> bool:
        if share <= 0:
            return False
        with self._lock:
            return self._faults_rng.random() < share

    def _roll_fault(self) -> str | None:
        config = self.config
        shares = (
            ("500", config.error_500_share),
            ("502", config.error_502_share),
            ("timeout", config.timeout_share),
            ("disconnect", config.disconnect_share),
        )
        if not any(share > 0 for _, share in shares):
            return None
        with self._lock:
            draw = self._faults_rng.random()
        for name, share in shares:
            if draw < share:
                self._count_fault(name)
                return name
            draw -= share
        return None

    def _count_fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    # ------------------------------------------------------------------------------
    # CRM endpoints
    # ------------------------------------------------------------------------------

    def _search(self, request: Request) -> Answer:
        try:
            query = parse_search_request(_json(request.body), types=self.store.types)
        except SearchValidationError as exc:
            raise _BadRequest(str(exc)) from None
        total, entries = self.store.search(query)
        names = query.properties or DEFAULT_PROPERTIES
        payload: dict[str, Any] = {
            "total": total,
            "results": [_render(entry, names) for entry in entries],
        }
        next_offset = query.after + query.limit
        if next_offset < total:
            payload["paging"] = {"next": {"after": str(next_offset)}}
        return Answer(payload=payload)

    def _batch_read(self, request: Request) -> Answer:
        body = _json(request.body)
        started = _now_iso()
        ids = _batch_ids(body)
        if body.get("idProperty") not in (None, "", "hs_object_id"):
            raise _BadRequest("The simulator reads by record id only (no idProperty).")
        names = body.get("properties") or DEFAULT_PROPERTIES
        results, missing = [], []
        for raw_id in dict.fromkeys(ids):
            record = self.store.get(_as_id(raw_id))
            if record is None:
                missing.append(raw_id)
            else:
                results.append(_render(record, names))
        return _batch_answer(results, missing, started, verb="get")

    def _batch_update(self, request: Request) -> Answer:
        body = _json(request.body)
        started = _now_iso()
        ids = _batch_ids(body)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise _BadRequest(f"Duplicate IDs found in batch input: {duplicates}.")
        modified_at = _now_iso()
        results, missing = [], []
        for item in body["inputs"]:
            properties = item.get("properties")
            if not isinstance(properties, dict) or not all(
                isinstance(v, str | int | float) or v is None for v in properties.values()
            ):
                raise _BadRequest("Each input needs properties: an object of strings.")
            record = self.store.update(
                _as_id(str(item["id"])),
                properties,
                modified_at=modified_at,
                index_lag=self.config.index_lag_seconds,
            )
            if record is None:
                missing.append(str(item["id"]))
            else:
                results.append(_render(record, tuple(record.properties)))
        return _batch_answer(results, missing, started, verb="update")

    def _get_deal(self, request: Request) -> Answer:
        raw_id = request.path.rsplit("/", 1)[-1]
        record = self.store.get(_as_id(raw_id))
        if record is None:
            return error_answer(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [raw_id]},
            )
        names = [
            name.strip()
            for value in request.query.get("properties", [])
            for name in value.split(",")
            if name.strip()
        ]
        return Answer(payload=_render(record, names or DEFAULT_PROPERTIES))

    # ------------------------------------------------------------------------------
    # Deals added while running
    # ------------------------------------------------------------------------------

    def add_deals(
        self,
        *,
        count: int,
        checked_in_at: datetime | None = None,
        properties: Mapping[str, str | None] | None = None,
    ) -> list[DealRecord]:
        now = datetime.now(UTC)
        records = []
        with self._factory_lock:
            for _ in range(count):
                record = self.factory.make(
                    checked_in_at=checked_in_at or now,
                    now=now,
                    missing_amount_share=self.config.missing_amount_share,
                    epoch_ms_share=self.config.epoch_ms_share,
                    overrides=properties,
                )
                self.store.add(record, index_lag=self.config.index_lag_seconds)
                records.append(record)
        return records

    def start_trickle(self) -> None:
        """Adds one deal checked in "now" every `trickle_seconds` (read each time, so it can
        be turned on, off or changed at run time)."""

        def run() -> None:
            next_at: float | None = None
            while not self._stop.wait(0.05):
                seconds = self.config.trickle_seconds
                if seconds <= 0:
                    next_at = None
                    continue
                now = time.monotonic()
                if next_at is None:
                    next_at = now + seconds
                elif now >= next_at:
                    self.add_deals(count=1)
                    next_at = now + seconds

        self._trickle_thread = threading.Thread(target=run, name="trickle", daemon=True)
        self._trickle_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._trickle_thread is not None:
            self._trickle_thread.join(timeout=5)

    # ------------------------------------------------------------------------------
    # Control endpoints
    # ------------------------------------------------------------------------------

    def _control(self, request: Request) -> Answer:
        try:
            loopback = ipaddress.ip_address(request.client_host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return error_answer(403, "FORBIDDEN", "Control endpoints answer loopback clients only.")
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("GET", "/_simulator/stats"):
                return Answer(payload=self.stats())
            if route == ("POST", "/_simulator/stats/reset"):
                self._reset_counters()
                return Answer(payload=self.stats())
            if route == ("GET", "/_simulator/config"):
                return Answer(payload=self.config.as_dict())
            if route == ("POST", "/_simulator/config"):
                values = _json(request.body)
                try:
                    self.config.update(values)
                except ValueError as exc:
                    raise _BadRequest(str(exc)) from None
                return Answer(payload=self.config.as_dict())
            if route == ("POST", "/_simulator/deals"):
                return self._control_add_deals(_json(request.body))
        except _BadRequest as exc:
            return error_answer(400, exc.category, exc.message)
        return error_answer(
            404, "NOT_FOUND", f"No control endpoint {request.method} {request.path}"
        )

    def _control_add_deals(self, body: dict[str, Any]) -> Answer:
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= MAX_ADDED_PER_CALL:
            raise _BadRequest(f"count must be an integer from 1 to {MAX_ADDED_PER_CALL}.")
        checked_in_at = None
        if body.get("checked_in_at") not in (None, ""):
            ms = datetime_ms(str(body["checked_in_at"]))
            if ms is None:
                raise _BadRequest("checked_in_at must be an ISO-8601 datetime or epoch ms.")
            checked_in_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        properties = body.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise _BadRequest("properties must be an object.")
        records = self.add_deals(count=count, checked_in_at=checked_in_at, properties=properties)
        return Answer(
            status=201,
            payload={
                "ids": [str(r.id) for r in records],
                "checked_in": [r.properties.get(self.store.checked_in_property) for r in records],
            },
        )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = {
                "requests": dict(self._requests),
                "responses": dict(self._responses),
                "rate_limited": self._rate_limited_served,
                "faults": dict(self._faults),
            }
        return {
            **self.store.counts(),
            **counters,
            "checked_in_property": self.store.checked_in_property,
            "same_second_at": iso(self.same_second_at) if self.same_second_at else None,
            "started_at": iso(self.started_at),
        }

    def _reset_counters(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._responses: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._rate_limited_served = 0


def build_simulator(
    *,
    deals: int,
    seed: int,
    days: float,
    token: str,
    checked_in_property: str,
    config: SimulatorConfig,
    same_second: int = 0,
    same_second_at: datetime | None = None,
) -> SimulatorApp:
    """A simulator holding `deals` generated deals, deterministic for a seed."""
    now = datetime.now(UTC)
    if same_second and same_second_at is None:
        # Middle of the window, on a whole second.
        middle = now - timedelta(days=days / 2)
        same_second_at = middle.replace(microsecond=0)
    store = DealStore(checked_in_property=checked_in_property)
    factory = DealFactory(seed=seed, checked_in_property=checked_in_property)
    store.load(
        generate_deals(
            factory,
            seed=seed,
            count=deals,
            days=days,
            now=now,
            same_second=same_second,
            same_second_at=same_second_at or now,
            missing_amount_share=config.missing_amount_share,
            epoch_ms_share=config.epoch_ms_share,
        )
    )
    return SimulatorApp(
        store=store,
        factory=factory,
        config=config,
        token=token,
        seed=seed,
        same_second_at=same_second_at if same_second else None,
    )


# ------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise _BadRequest("Invalid input JSON: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _BadRequest("Invalid input JSON: expected an object.")
    return data


def _batch_ids(body: dict[str, Any]) -> list[str]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(
        isinstance(item, dict) and item.get("id") not in (None, "") for item in inputs
    ):
        raise _BadRequest("inputs must be a list of objects with an id.")
    if len(inputs) > BATCH_LIMIT:
        raise _BadRequest(f"Too many inputs ({len(inputs)} > {BATCH_LIMIT}).")
    return [str(item["id"]) for item in inputs]


def _as_id(raw: str) -> int:
    return int(raw) if raw.isdigit() else -1


def _now_iso() -> str:
    return iso(datetime.now(UTC))


def _render(item: DealRecord | IndexEntry, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """A SimplePublicObject: the asked-for properties (null when unset) and the defaults."""
    properties = item.properties
    wanted = dict.fromkeys([*names, *ALWAYS_RETURNED])
    return {
        "id": str(item.id),
        "properties": {name: properties.get(name) for name in wanted},
        "createdAt": item.created_at,
        "updatedAt": item.updated_at,
        "archived": False,
    }


def _batch_answer(
    results: list[dict[str, Any]], missing: list[str], started: str, *, verb: str
) -> Answer:
    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": _now_iso(),
    }
    if not missing:
        return Answer(payload=payload)
    payload["numErrors"] = 1
    payload["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": f"Could not {verb} some DEAL objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": missing},
            "errors": [],
            "links": {},
        }
    ]
    return Answer(status=207, payload=payload)
