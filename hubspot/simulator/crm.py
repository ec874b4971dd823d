"""The CRM endpoints the simulator serves (search, batch read, batch update, get), as
HubSpot's deals spec describes them: ../shared/hubspot-spec/deals.json and NOTES.md there.

    POST /crm/objects/2026-09/deals/search        (objectType `deals` or `0-3`)
    POST /crm/objects/2026-09/deals/batch/read    200, or 207 with errors[] for missing ids
                                                  (?archived=true: archived deals only)
    POST /crm/objects/2026-09/deals/batch/update  200, or 207 with errors[] for missing ids
    GET  /crm/objects/2026-09/deals/{id}?properties=a,b   404 when missing (?archived=true
                                                  reads an archived deal)
    GET  /crm/objects/2026-09/deals?archived=true&limit=&after=&properties=   the list:
                                                  active (or archived) deals by id

Archived (deleted) deals are never found by search, and by reads only with archived=true.
Reading a merged-away id answers the deal it was merged into, with that deal's id.

The date versions 2026-09 and 2026-03 are served, and the numbered /crm/v3/objects/... paths
too, as HubSpot does until September 2027 (HubSpot's SDK 12 calls them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .config import SimulatorConfig
from .data import DealRecord, iso
from .protocol import Answer, BadRequest, Request, error_answer, json_object
from .search import IndexEntry, SearchValidationError, parse_search_request
from .store import Archived, DealStore

BATCH_LIMIT = 100
LIST_LIMIT = 100  # the list endpoint's page: default 10, at most 100
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
API_VERSIONS = ("2026-09", "2026-03")
_API_PATH = re.compile(
    r"^/crm/(?:v3/objects|objects/(?:" + "|".join(API_VERSIONS) + r"))/(?:deals|0-3)"
    r"(?P<rest>/[^?]*)?$"
)

Handler = Callable[[Request], Answer]
# Told of each deal a batch update wrote, with the properties written.
UpdateHook = Callable[[DealRecord, dict[str, Any]], None]


class CrmApi:
    def __init__(
        self, *, store: DealStore, config: SimulatorConfig, on_update: UpdateHook | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.on_update = on_update

    def route(self, method: str, path: str) -> tuple[str, Handler | None]:
        """(endpoint name for stats, its handler); ("unknown", None) when nothing matches."""
        match = _API_PATH.match(path)
        rest = match.group("rest") if match else None
        if rest == "/search" and method == "POST":
            return "search", self.search
        if rest == "/batch/read" and method == "POST":
            return "batch_read", self.batch_read
        if rest == "/batch/update" and method == "POST":
            return "batch_update", self.batch_update
        if not rest and method == "GET":
            return "list_deals", self.list_deals
        if rest and rest.count("/") == 1 and not rest.startswith("/batch") and method == "GET":
            return "get_deal", self.get_deal
        return "unknown", None

    def search(self, request: Request) -> Answer:
        try:
            query = parse_search_request(json_object(request.body), types=self.store.types)
        except SearchValidationError as exc:
            raise BadRequest(str(exc)) from None
        total, entries = self.store.search(query)
        names = query.properties or DEFAULT_PROPERTIES
        payload: dict[str, Any] = {
            "total": total,
            "results": [render(entry, names) for entry in entries],
        }
        next_offset = query.after + query.limit
        if next_offset < total:
            payload["paging"] = {"next": {"after": str(next_offset)}}
        return Answer(payload=payload)

    def batch_read(self, request: Request) -> Answer:
        body = json_object(request.body)
        started = _now_iso()
        ids = _batch_ids(body)
        if body.get("idProperty") not in (None, "", "hs_object_id"):
            raise BadRequest("The simulator reads by record id only (no idProperty).")
        names = body.get("properties") or DEFAULT_PROPERTIES
        archived = _archived_asked(request)
        results: dict[str, dict[str, Any]] = {}  # by the id answered: merged ids share one
        missing = []
        for raw_id in dict.fromkeys(ids):
            answer = self._read(_as_id(raw_id), names, archived=archived)
            if answer is None:
                missing.append(raw_id)
            else:
                results.setdefault(answer["id"], answer)
        return _batch_answer(list(results.values()), missing, started, verb="get")

    def _read(
        self, deal_id: int, names: tuple[str, ...] | list[str], *, archived: bool
    ) -> dict[str, Any] | None:
        """A deal as a read answers it (a merged-away id: the deal it went into), or None;
        with `archived`, archived deals only."""
        if archived:
            entry = self.store.get_archived(deal_id)
            return None if entry is None else render(entry.record, names, archived=entry)
        record = self.store.get(deal_id)
        return None if record is None else render(record, names)

    def list_deals(self, request: Request) -> Answer:
        """GET .../deals: a page of deals by id (archived ones with archived=true)."""
        limit_text = _query_value(request, "limit") or "10"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= LIST_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {LIST_LIMIT}.")
        after_text = _query_value(request, "after") or "0"
        if not after_text.isdigit():
            raise BadRequest("after must be a paging cursor from paging.next.after.")
        archived = _archived_asked(request)
        items, more = self.store.page(
            archived=archived, after=int(after_text), limit=int(limit_text)
        )
        names = _properties_asked(request) or DEFAULT_PROPERTIES
        results = [
            render(item.record, names, archived=item)
            if isinstance(item, Archived)
            else render(item, names)
            for item in items
        ]
        payload: dict[str, Any] = {"results": results}
        if more and results:
            after = results[-1]["id"]
            link = f"{request.path}?after={after}&limit={limit_text}"
            if archived:
                link += "&archived=true"
            payload["paging"] = {"next": {"after": after, "link": link}}
        return Answer(payload=payload)

    def batch_update(self, request: Request) -> Answer:
        body = json_object(request.body)
        started = _now_iso()
        ids = _batch_ids(body)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise BadRequest(f"Duplicate IDs found in batch input: {duplicates}.")
        for item in body["inputs"]:
            properties = item.get("properties")
            if not isinstance(properties, dict) or not all(
                isinstance(v, str | int | float) or v is None for v in properties.values()
            ):
                raise BadRequest("Each input needs properties: an object of strings.")
        refusals = {str(item["id"]): self._refusal(item) for item in body["inputs"]}
        refusals = {deal_id: message for deal_id, message in refusals.items() if message}
        if refusals and self.config.refuse_update_mode == "whole_batch":
            # HubSpot may refuse a whole batch for one input, without saying which.
            raise BadRequest(next(iter(refusals.values())))
        modified_at = _now_iso()
        results, missing = [], []
        for item in body["inputs"]:
            if str(item["id"]) in refusals:
                continue
            record = self.store.update(
                _as_id(str(item["id"])),
                item["properties"],
                modified_at=modified_at,
                index_lag=self.config.index_lag_seconds,
            )
            if record is None:
                missing.append(str(item["id"]))
                continue
            results.append(render(record, tuple(record.properties)))
            if self.on_update is not None:
                self.on_update(record, item["properties"])
        errors = [
            _batch_error("VALIDATION_ERROR", message, [deal_id])
            for deal_id, message in refusals.items()
        ]
        return _batch_answer(results, missing, started, verb="update", errors=errors)

    def _refusal(self, item: dict[str, Any]) -> str:
        """Why the account's validation rules refuse this input ("" when they do not)."""
        rule_property = self.config.refuse_update_property
        if rule_property and item["properties"].get(rule_property) not in (None, ""):
            return (
                f"Property values were not valid: {rule_property} is not allowed "
                "by a validation rule of this account."
            )
        if _as_id(str(item["id"])) in self.config.refuse_update_ids:
            return (
                "Property values were not valid: closedate is required by a validation "
                "rule of this account for this deal."
            )
        return ""

    def get_deal(self, request: Request) -> Answer:
        raw_id = request.path.rsplit("/", 1)[-1]
        names = _properties_asked(request) or DEFAULT_PROPERTIES
        answer = self._read(_as_id(raw_id), names, archived=_archived_asked(request))
        if answer is None:
            return error_answer(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [raw_id]},
            )
        return Answer(payload=answer)


def render(
    item: DealRecord | IndexEntry,
    names: tuple[str, ...] | list[str],
    *,
    archived: Archived | None = None,
) -> dict[str, Any]:
    """A SimplePublicObject: the asked-for properties (null when unset) and the defaults;
    `archived` and `archivedAt` for an archived deal."""
    properties = item.properties
    wanted = dict.fromkeys([*names, *ALWAYS_RETURNED])
    answer: dict[str, Any] = {
        "id": str(item.id),
        "properties": {name: properties.get(name) for name in wanted},
        "createdAt": item.created_at,
        "updatedAt": item.updated_at,
        "archived": archived is not None,
    }
    if archived is not None:
        answer["archivedAt"] = archived.archived_at
    return answer


def _query_value(request: Request, name: str) -> str:
    values = request.query.get(name) or [""]
    return values[-1].strip()


def _archived_asked(request: Request) -> bool:
    return _query_value(request, "archived").lower() == "true"


def _properties_asked(request: Request) -> list[str]:
    return [
        name.strip()
        for value in request.query.get("properties", [])
        for name in value.split(",")
        if name.strip()
    ]


def _batch_ids(body: dict[str, Any]) -> list[str]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(
        isinstance(item, dict) and item.get("id") not in (None, "") for item in inputs
    ):
        raise BadRequest("inputs must be a list of objects with an id.")
    if len(inputs) > BATCH_LIMIT:
        raise BadRequest(f"Too many inputs ({len(inputs)} > {BATCH_LIMIT}).")
    return [str(item["id"]) for item in inputs]


def _as_id(raw: str) -> int:
    return int(raw) if raw.isdigit() else -1


def _now_iso() -> str:
    return iso(datetime.now(UTC))


def _batch_error(category: str, message: str, ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def _batch_answer(
    results: list[dict[str, Any]],
    missing: list[str],
    started: str,
    *,
    verb: str,
    errors: list[dict[str, Any]] | None = None,
) -> Answer:
    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": _now_iso(),
    }
    errors = list(errors or [])
    if missing:
        message = (
            f"Could not {verb} some DEAL objects, they may be deleted or not exist. "
            "Check that ids are valid."
        )
        errors.insert(0, _batch_error("OBJECT_NOT_FOUND", message, missing))
    if not errors:
        return Answer(payload=payload)
    payload["numErrors"] = len(errors)
    payload["errors"] = errors
    return Answer(status=207, payload=payload)
