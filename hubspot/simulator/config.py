"""The simulator's run-time knobs: set from CLI flags at start, changeable while it runs
(`POST /_simulator/config` with any subset of the fields, e.g. {"error_500_share": 0.2})."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

# Knobs that are a probability per request (or per new deal).
_SHARES = {
    "error_500_share",
    "error_502_share",
    "malformed_share",
    "timeout_share",
    "disconnect_share",
    "missing_amount_share",
    "epoch_ms_share",
}


def _ids(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(
        isinstance(i, int | str) and str(i).strip().isdigit() for i in value
    ):
        raise ValueError("refuse_update_ids must be a list of deal ids")
    return tuple(int(str(i).strip()) for i in value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def _mode(value: Any) -> str:
    if value not in ("per_input", "whole_batch"):
        raise ValueError("refuse_update_mode must be per_input or whole_batch")
    return str(value)


# Knobs that are not numbers, each with its parser.
_OTHER_KNOBS = {
    "refuse_update_ids": _ids,
    "refuse_update_property": _text,
    "refuse_update_mode": _mode,
}


@dataclass
class SimulatorConfig:
    # Search rate limit (HubSpot: 5/s per account). 0 turns it off. `search_burst` requests
    # may arrive at once after an idle spell; above 1 it absorbs network jitter, so a client
    # that paces itself at the same rate is not refused.
    search_rps: float = 5.0
    search_burst: int = 2
    # HubSpot's general limit for every other call, per rolling 10 s (HubSpot: 100 or 190).
    # 0 turns it off.
    general_limit_10s: float = 0.0
    # Retry-After header on 429s, in seconds; 0: none (HubSpot usually sends none).
    retry_after_seconds: float = 0.0
    # Seconds before an added or changed deal shows in search (reads see it at once).
    index_lag_seconds: float = 0.0
    # Faults, each a share of CRM API requests (control endpoints are never faulted).
    error_500_share: float = 0.0
    error_502_share: float = 0.0
    malformed_share: float = 0.0  # a 200/207 whose body is cut-off JSON
    timeout_share: float = 0.0  # held for timeout_hold_seconds before the answer
    timeout_hold_seconds: float = 35.0
    disconnect_share: float = 0.0  # connection closed without an answer
    latency_ms: float = 0.0  # added to every CRM API answer
    # New deals (generated at start, added at run time, trickled).
    missing_amount_share: float = 0.05
    epoch_ms_share: float = 0.0  # checked-in value as an epoch-ms string instead of ISO
    trickle_seconds: float = 0.0  # one new deal checked in "now" every so often; 0: off
    # HubSpot's daily cap for every call but search (0: none): past it, 429 DAILY until
    # `POST /_simulator/daily/reset` (HubSpot: midnight in the account's time zone).
    daily_limit: int = 0
    # Write validation (HubSpot enforces the account's rules on writes from 2026-09): batch
    # updates of these deal ids, or setting this property to any value, are refused with
    # 400 VALIDATION_ERROR; `per_input` answers 207 naming each refused input, `whole_batch`
    # refuses the whole batch without naming it.
    refuse_update_ids: tuple[int, ...] = ()
    refuse_update_property: str = ""
    refuse_update_mode: str = "per_input"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.update(asdict(self))

    def update(self, values: dict[str, Any]) -> None:
        """Validate and apply knobs; raises ValueError (and changes nothing) on a bad one."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}; known: {', '.join(sorted(known))}")
            if name in _OTHER_KNOBS:
                parsed[name] = _OTHER_KNOBS[name](value)
                continue
            kind = int if known[name].type in ("int", int) else float
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {value!r}") from None
            if number < 0:
                raise ValueError(f"{name} must not be negative")
            if name in _SHARES and number > 1:
                raise ValueError(f"{name} is a share between 0 and 1")
            if name == "search_burst" and number < 1:
                raise ValueError("search_burst must be at least 1")
            parsed[name] = number
        with self._lock:
            for name, number in parsed.items():
                setattr(self, name, number)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self)}
