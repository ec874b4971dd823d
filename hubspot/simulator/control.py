"""The simulator's control endpoints: no token, loopback clients only. Tests, benchmarks
and scripts use them (through process.py's `RunningSimulator`) to watch and steer it.

    GET  /_simulator/stats          requests by endpoint, responses by status, 429s, faults
    POST /_simulator/stats/reset
    GET  /_simulator/config         the knobs (see config.py)
    POST /_simulator/config         {"knob": value, ...}: change knobs while running
    POST /_simulator/daily/reset    the daily cap's count back to 0 (HubSpot's midnight)
    POST /_simulator/deals          {"count": n, "checked_in_at": ISO|epoch-ms, "properties": {}}
                                    adds deals now; answers {"ids": [...]}
    GET  /_simulator/deals/{id}     the deal's properties and the batch updates written to it
    POST /_simulator/deals/{id}/delete, POST /_simulator/deals/{id}/restore,
    POST /_simulator/merge {"primary": id, "merged": [id, ...]}   the lifecycle (lifecycle.py)
    GET  /_simulator/webhooks       webhooks sent (with --webhook-url): counts, deliveries
    GET  /_simulator/updates        batch updates received, per deal id: {id: [update, ...]},
                                    each {"at", "properties", "answered"}; `answered` is
                                    false when a fault hid the answer from the client
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .lifecycle import handle_lifecycle
from .protocol import Answer, BadRequest, Request, error_answer, json_object
from .search import datetime_ms

if TYPE_CHECKING:
    from .app import SimulatorApp

MAX_ADDED_PER_CALL = 100_000


def handle_control(app: SimulatorApp, request: Request) -> Answer:
    try:
        loopback = ipaddress.ip_address(request.client_host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return error_answer(403, "FORBIDDEN", "Control endpoints answer loopback clients only.")
    route = (request.method, request.path.rstrip("/"))
    try:
        if route == ("GET", "/_simulator/stats"):
            return Answer(payload=app.stats())
        if route == ("POST", "/_simulator/stats/reset"):
            app.reset_counters()
            return Answer(payload=app.stats())
        if route == ("GET", "/_simulator/config"):
            return Answer(payload=app.config.as_dict())
        if route == ("POST", "/_simulator/config"):
            try:
                app.config.update(json_object(request.body))
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            return Answer(payload=app.config.as_dict())
        if route == ("POST", "/_simulator/daily/reset"):
            app.daily_limit.reset()
            return Answer(payload=app.stats())
        if route == ("POST", "/_simulator/deals"):
            return _add_deals(app, json_object(request.body))
        if route == ("GET", "/_simulator/updates"):
            return Answer(payload=app.all_updates())
        if route == ("GET", "/_simulator/webhooks"):
            if app.webhooks is None:
                return error_answer(404, "NOT_FOUND", "No --webhook-url: no webhooks are sent.")
            return Answer(payload=app.webhooks.snapshot())
        method, path = route
        lifecycle = handle_lifecycle(app.lifecycle, method, path, request.body)
        if lifecycle is not None:
            return lifecycle
        prefix = "/_simulator/deals/"
        if method == "GET" and path.startswith(prefix) and path[len(prefix) :].isdigit():
            record = app.deal_record(int(path[len(prefix) :]))
            if record is None:
                return error_answer(404, "OBJECT_NOT_FOUND", f"No deal {path[len(prefix) :]}.")
            return Answer(payload=record)
    except BadRequest as exc:
        return error_answer(400, exc.category, exc.message)
    return error_answer(404, "NOT_FOUND", f"No control endpoint {request.method} {request.path}")


def _add_deals(app: SimulatorApp, body: dict[str, Any]) -> Answer:
    count = body.get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= MAX_ADDED_PER_CALL:
        raise BadRequest(f"count must be an integer from 1 to {MAX_ADDED_PER_CALL}.")
    checked_in_at = None
    if body.get("checked_in_at") not in (None, ""):
        ms = datetime_ms(str(body["checked_in_at"]))
        if ms is None:
            raise BadRequest("checked_in_at must be an ISO-8601 datetime or epoch ms.")
        checked_in_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    properties = body.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise BadRequest("properties must be an object.")
    records = app.add_deals(count=count, checked_in_at=checked_in_at, properties=properties)
    return Answer(
        status=201,
        payload={
            "ids": [str(r.id) for r in records],
            "checked_in": [r.properties.get(app.store.checked_in_property) for r in records],
        },
    )
