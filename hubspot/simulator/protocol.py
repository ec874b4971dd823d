"""What the simulator's HTTP server hands to the app and back: a `Request` in, an `Answer`
out, and HubSpot's error body. Independent of HTTP: `server.py` moves the bytes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str] | Message[str, str]  # http.server's: any case finds a name
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
    # A fault drawn after the endpoint ran ("timeout", "malformed"): what it did (a batch
    # update's writes) happened, but the client never got a usable answer.
    fault_after_handler: str | None = None

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, separators=(",", ":")).encode()


def error_answer(status: int, category: str, message: str, **extra: Any) -> Answer:
    """HubSpot's error body (../shared/hubspot-spec/NOTES.md, "Errors")."""
    payload = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return Answer(status=status, payload=payload)


class BadRequest(Exception):
    """Answered 400 with HubSpot's error body."""

    def __init__(self, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.category = category


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest as HubSpot words it."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("Invalid input JSON: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("Invalid input JSON: expected an object.")
    return data
