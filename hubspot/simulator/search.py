"""The CRM search request: validation (HubSpot's limits) and matching, independent of HTTP.

Follows ../shared/hubspot-spec/NOTES.md and the search guide: filters in a group are
ANDed, groups ORed; at most 5 groups, 6 filters per group, 18 in all; one sort; `limit` up
to 200 (default 10); `after` is an offset and paging past 10,000 results is refused.
Comparisons follow the property's type: numbers and datetimes (epoch-ms or ISO values)
compare as numbers, strings case-insensitively.

This module parses values on its own (it does not reuse the client's parsers) so that the
simulator stays an independent check of the client.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .data import DealRecord

NUMBER, DATETIME, STRING = "number", "datetime", "string"
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000
MAX_QUERY_CHARS = 3000
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN_SPLIT = re.compile(r"[^\w@.]+")


class SearchValidationError(ValueError):
    """The request breaks a rule HubSpot enforces; answered with 400 VALIDATION_ERROR."""


def property_types(checked_in_property: str) -> dict[str, str]:
    """Types of the deal properties the simulator knows; anything else is a string."""
    return {
        "hs_object_id": NUMBER,
        "amount": NUMBER,
        "createdate": DATETIME,
        "hs_lastmodifieddate": DATETIME,
        "closedate": DATETIME,
        checked_in_property: DATETIME,
    }


def datetime_ms(text: str) -> int | None:
    """Epoch milliseconds from an epoch-ms string, an ISO-8601 datetime or a date."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def comparable(kind: str, raw: str | None) -> Any:
    """The value used to compare and sort, or None when missing or not of the type."""
    if raw is None or raw == "":
        return None
    if kind == DATETIME:
        return datetime_ms(raw)
    if kind == NUMBER:
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            return None
    return raw.casefold()


class IndexEntry:
    """A deal as search sees it: a snapshot of its record, plus typed values to compare."""

    __slots__ = ("created_at", "id", "keys", "properties", "updated_at")

    def __init__(self, record: DealRecord, types: Mapping[str, str]) -> None:
        self.id = record.id
        self.properties = record.properties
        self.created_at = record.created_at
        self.updated_at = record.updated_at
        keys = {}
        for name, kind in types.items():
            value = comparable(kind, record.properties.get(name))
            if value is not None:
                keys[name] = value
        self.keys = keys


@dataclass(frozen=True)
class Filter:
    property_name: str
    operator: str
    test: Callable[[IndexEntry], bool]
    # Hints for the store's query planner (all optional):
    ids: frozenset[int] | None = None  # hs_object_id EQ / IN: only these ids can match
    id_after: int | None = None  # hs_object_id GT / GTE: only ids above this can match
    low: tuple[Any, bool] | None = None  # (value, inclusive) lower bound on a typed property
    high: tuple[Any, bool] | None = None  # (value, inclusive) upper bound


@dataclass(frozen=True)
class SearchQuery:
    groups: tuple[tuple[Filter, ...], ...]
    sort_property: str
    descending: bool
    properties: tuple[str, ...] | None
    limit: int
    after: int
    text: str | None
    # The same key means the same result list (paging through one query).
    cache_key: str

    def matches_text(self, entry: IndexEntry) -> bool:
        if not self.text:
            return True
        name = (entry.properties.get("dealname") or "").casefold()
        return all(token in name for token in self.text.casefold().split())


def parse_search_request(body: Any, *, types: Mapping[str, str]) -> SearchQuery:
    if not isinstance(body, dict):
        raise SearchValidationError("The request body must be a JSON object.")
    limit = _int_field(body, "limit", DEFAULT_LIMIT)
    if limit < 1 or limit > MAX_LIMIT:
        raise SearchValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    after = _int_field(body, "after", 0)
    if after < 0:
        raise SearchValidationError("after must not be negative.")
    if after + limit > RESULT_CAP:
        raise SearchValidationError(
            f"Paging past {RESULT_CAP} results is not supported: after={after}, limit={limit}. "
            "Narrow the query's filters instead."
        )

    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise SearchValidationError("filterGroups must be a list.")
    if len(raw_groups) > MAX_GROUPS:
        raise SearchValidationError(f"Too many filter groups ({len(raw_groups)} > {MAX_GROUPS}).")
    groups = []
    filter_count = 0
    for raw_group in raw_groups:
        raw_filters = raw_group.get("filters") if isinstance(raw_group, dict) else None
        if not isinstance(raw_filters, list):
            raise SearchValidationError("Each filter group needs a list of filters.")
        if len(raw_filters) > MAX_FILTERS_PER_GROUP:
            raise SearchValidationError(
                f"Too many filters in a group ({len(raw_filters)} > {MAX_FILTERS_PER_GROUP})."
            )
        filter_count += len(raw_filters)
        groups.append(tuple(_compile_filter(raw, types) for raw in raw_filters))
    if filter_count > MAX_FILTERS:
        raise SearchValidationError(f"Too many filters ({filter_count} > {MAX_FILTERS}).")

    sort_property, descending = _parse_sorts(body.get("sorts"))
    properties = body.get("properties")
    if properties is not None and (
        not isinstance(properties, list) or not all(isinstance(p, str) for p in properties)
    ):
        raise SearchValidationError("properties must be a list of property names.")
    text = body.get("query")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_QUERY_CHARS):
        raise SearchValidationError(f"query must be a string of at most {MAX_QUERY_CHARS} chars.")

    cache_key = json.dumps(
        [raw_groups, sort_property, descending, text], sort_keys=True, default=str
    )
    return SearchQuery(
        groups=tuple(groups),
        sort_property=sort_property,
        descending=descending,
        properties=tuple(properties) if properties is not None else None,
        limit=limit,
        after=after,
        text=text or None,
        cache_key=cache_key,
    )


def _int_field(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise SearchValidationError(f"{name} must be an integer.")
    try:
        return int(str(value))
    except ValueError:
        raise SearchValidationError(f"{name} must be an integer, got {value!r}.") from None


def _parse_sorts(raw: Any) -> tuple[str, bool]:
    """One sort rule: {"propertyName", "direction"}, or a bare property name (the spec's
    string form; a leading "-" means descending). Default: hs_object_id ascending."""
    if not raw:
        return "hs_object_id", False
    if not isinstance(raw, list):
        raise SearchValidationError("sorts must be a list.")
    if len(raw) > 1:
        raise SearchValidationError("Only one sort is supported.")
    rule = raw[0]
    if isinstance(rule, str):
        return (rule[1:], True) if rule.startswith("-") else (rule, False)
    if not isinstance(rule, dict) or not isinstance(rule.get("propertyName"), str):
        raise SearchValidationError("A sort needs a propertyName.")
    direction = str(rule.get("direction") or "ASCENDING").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise SearchValidationError(f"Unknown sort direction {direction!r}.")
    return rule["propertyName"], direction == "DESCENDING"


def _compile_filter(raw: Any, types: Mapping[str, str]) -> Filter:
    if not isinstance(raw, dict):
        raise SearchValidationError("A filter must be an object.")
    name = raw.get("propertyName")
    if not isinstance(name, str) or not name:
        raise SearchValidationError("A filter needs a propertyName.")
    operator = str(raw.get("operator") or "EQ").upper()
    if operator not in OPERATORS:
        raise SearchValidationError(f"Unknown filter operator {operator!r}.")
    kind = types.get(name, STRING)

    def value_of(field: str) -> Any:
        value = raw.get(field)
        if value is None:
            raise SearchValidationError(f"The {operator} filter on {name} needs {field}.")
        converted = comparable(kind, str(value))
        if converted is None:
            raise SearchValidationError(f"{value!r} is not a valid {kind} value for {name}.")
        return converted

    def has(entry: IndexEntry) -> bool:
        return entry.properties.get(name) not in (None, "")

    if kind == STRING:

        def get(entry: IndexEntry) -> Any:
            value = entry.properties.get(name)
            return value.casefold() if value else None

    else:

        def get(entry: IndexEntry) -> Any:
            return entry.keys.get(name)

    hints: dict[str, Any] = {}
    test: Callable[[IndexEntry], bool]
    if operator == "HAS_PROPERTY":
        test = has
    elif operator == "NOT_HAS_PROPERTY":

        def test(entry: IndexEntry) -> bool:
            return not has(entry)

    elif operator in ("EQ", "NEQ"):
        target = value_of("value")
        if operator == "EQ":

            def test(entry: IndexEntry) -> bool:
                return get(entry) == target

            hints = {"low": (target, True), "high": (target, True)}
        else:

            def test(entry: IndexEntry) -> bool:
                return get(entry) != target

    elif operator in ("LT", "LTE", "GT", "GTE"):
        target = value_of("value")
        test = _comparison(get, operator, target)
        if operator in ("GT", "GTE"):
            hints = {"low": (target, operator == "GTE")}
        else:
            hints = {"high": (target, operator == "LTE")}
    elif operator == "BETWEEN":
        low, high = value_of("value"), value_of("highValue")

        def test(entry: IndexEntry) -> bool:
            value = get(entry)
            return value is not None and low <= value <= high

        hints = {"low": (low, True), "high": (high, True)}
    elif operator in ("IN", "NOT_IN"):
        raw_values = raw.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise SearchValidationError(f"The {operator} filter on {name} needs values.")
        targets = frozenset(_item_value(kind, name, v) for v in raw_values)
        if operator == "IN":

            def test(entry: IndexEntry) -> bool:
                return get(entry) in targets

            if name == "hs_object_id":
                hints = {"ids": frozenset(int(v) for v in targets if float(v).is_integer())}
        else:

            def test(entry: IndexEntry) -> bool:
                return get(entry) not in targets

    else:  # CONTAINS_TOKEN, NOT_CONTAINS_TOKEN
        pattern = str(raw.get("value") or "").casefold()
        if not pattern:
            raise SearchValidationError(f"The {operator} filter on {name} needs a value.")

        def contains(entry: IndexEntry) -> bool:
            value = entry.properties.get(name)
            if not value:
                return False
            return any(
                fnmatch.fnmatchcase(t, pattern) for t in _TOKEN_SPLIT.split(value.casefold())
            )

        test = contains if operator == "CONTAINS_TOKEN" else (lambda entry: not contains(entry))

    if name == "hs_object_id":
        if operator == "EQ":
            target = hints["low"][0]
            hints["ids"] = frozenset([int(target)] if float(target).is_integer() else [])
        elif operator in ("GT", "GTE"):
            value, inclusive = hints["low"]
            # Ids are integers: "> 10.5" and ">= 11" both mean "above 10".
            hints["id_after"] = math.ceil(value) - 1 if inclusive else math.floor(value)
    return Filter(property_name=name, operator=operator, test=test, **hints)


def _item_value(kind: str, name: str, value: Any) -> Any:
    converted = comparable(kind, str(value))
    if converted is None:
        raise SearchValidationError(f"{value!r} is not a valid {kind} value for {name}.")
    return converted


def _comparison(get: Callable[[IndexEntry], Any], operator: str, target: Any) -> Callable:
    if operator == "LT":
        return lambda entry: (v := get(entry)) is not None and v < target
    if operator == "LTE":
        return lambda entry: (v := get(entry)) is not None and v <= target
    if operator == "GT":
        return lambda entry: (v := get(entry)) is not None and v > target
    return lambda entry: (v := get(entry)) is not None and v >= target
