"""Reading what HubSpot's answers say besides their JSON: the rate-limit headers, Retry-After,
and the scopes a 403 names."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any


def missing_scopes(body: dict[str, Any]) -> list[str]:
    """The scopes a 403 MISSING_SCOPES answer names (errors[].context.required*Scopes)."""
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        for key in ("requiredGranularScopes", "requiredScopes"):
            values = context.get(key) if isinstance(context, dict) else None
            scopes += [str(v) for v in values or [] if isinstance(v, str) and v not in scopes]
    return scopes


def int_header(headers: dict[str, str], name: str) -> int | None:
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
