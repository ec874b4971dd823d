"""The deal lifecycle HubSpot has (../shared/hubspot-spec/NOTES.md, "Deal lifecycle"):
deletion (archiving), restore within 90 days, and merges, steered by control endpoints.

    POST /_simulator/deals/{id}/delete   archives the deal (archivedAt now): out of search and
                                         reads (reads with archived=true still find it)
    POST /_simulator/deals/{id}/restore  un-archives it (within 90 days), hs_lastmodifieddate now
    POST /_simulator/merge {"primary": id, "merged": [id, ...]}
                                         a NEW deal (new id) with the primary's properties and
                                         hs_merged_object_ids (the absorbed ids, ";"-joined);
                                         the absorbed deals leave search, reads of their ids
                                         answer the new deal; answers {"id": new id}

With a webhook URL, each sends its webhook: deal.deletion, deal.restore, deal.merge; a body
{"webhook": false} (merge: a "webhook" field) makes it a delivery HubSpot lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .config import SimulatorConfig
from .data import DealRecord, iso
from .protocol import Answer, BadRequest, error_answer, json_object
from .store import DealStore

if TYPE_CHECKING:
    from .webhooks import WebhookSender

MAX_MERGED = 100


class DealNotFound(LookupError):
    pass


class Lifecycle:
    def __init__(
        self,
        *,
        store: DealStore,
        config: SimulatorConfig,
        new_id: Callable[[], int],
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.new_id = new_id
        self.webhooks = webhooks

    def delete(self, deal_id: int, *, webhook: bool = True) -> dict[str, Any]:
        archived = self.store.archive(deal_id, archived_at=_now())
        if archived is None:
            raise DealNotFound(f"No deal {deal_id} to delete.")
        if self.webhooks is not None and webhook:
            self.webhooks.deal_deleted(archived.record)
        return {"id": str(deal_id), "archived": True, "archivedAt": archived.archived_at}

    def restore(self, deal_id: int, *, webhook: bool = True) -> dict[str, Any]:
        record = self.store.restore(
            deal_id, modified_at=_now(), index_lag=self.config.index_lag_seconds
        )
        if record is None:
            raise DealNotFound(f"No deal {deal_id} deleted in the last 90 days.")
        if self.webhooks is not None and webhook:
            self.webhooks.deal_restored(record)
        return {
            "id": str(deal_id),
            "archived": False,
            "hs_lastmodifieddate": record.properties.get("hs_lastmodifieddate"),
        }

    def merge(self, *, primary: int, merged: list[int], webhook: bool = True) -> str:
        """Merge `merged` into `primary` as HubSpot does: into a new deal; its id."""
        if not merged or len(merged) > MAX_MERGED:
            raise BadRequest(f"merged must list 1 to {MAX_MERGED} deal ids.")
        absorbed = [primary, *merged]
        if len(set(absorbed)) != len(absorbed):
            raise BadRequest("primary and merged must be distinct deal ids.")
        records = [self.store.get(deal_id) for deal_id in absorbed]
        if any(r is None or r.id != deal_id for r, deal_id in zip(records, absorbed, strict=True)):
            raise DealNotFound("Every deal merged must exist (and not be archived or merged).")
        merged_ids: list[str] = []
        for record in records:
            assert record is not None
            earlier = record.properties.get("hs_merged_object_ids") or ""
            merged_ids += [i for i in earlier.split(";") if i]
            merged_ids.append(str(record.id))
        source = records[0]
        assert source is not None
        now = _now()
        new_id = self.new_id()
        new = DealRecord(
            id=new_id,
            properties={
                **source.properties,
                "hs_object_id": str(new_id),
                "hs_merged_object_ids": ";".join(dict.fromkeys(merged_ids)),
                "hs_lastmodifieddate": now,
            },
            created_at=source.created_at,
            updated_at=now,
        )
        if not self.store.merge(new, absorbed, index_lag=self.config.index_lag_seconds):
            raise DealNotFound("A deal merged was deleted or merged meanwhile.")
        if self.webhooks is not None and webhook:
            self.webhooks.deals_merged(new, primary=primary, merged=merged)
        return str(new_id)


def handle_lifecycle(lifecycle: Lifecycle, method: str, path: str, body: bytes) -> Answer | None:
    """The lifecycle's control endpoints; None when the request is none of them."""
    if method != "POST":
        return None
    try:
        if path == "/_simulator/merge":
            data = json_object(body)
            merged = data.get("merged")
            if not isinstance(merged, list):
                raise BadRequest('merged must be a list of deal ids: {"primary", "merged"}.')
            new_id = lifecycle.merge(
                primary=_deal_id(data.get("primary")),
                merged=[_deal_id(i) for i in merged],
                webhook=data.get("webhook") is not False,
            )
            return Answer(payload={"id": new_id})
        parts = path.split("/")  # "", "_simulator", "deals", id, action
        if len(parts) == 5 and parts[2] == "deals" and parts[3].isdigit():
            webhook = json_object(body).get("webhook") is not False
            if parts[4] == "delete":
                return Answer(payload=lifecycle.delete(int(parts[3]), webhook=webhook))
            if parts[4] == "restore":
                return Answer(payload=lifecycle.restore(int(parts[3]), webhook=webhook))
    except DealNotFound as exc:
        return error_answer(404, "OBJECT_NOT_FOUND", str(exc))
    return None


def _deal_id(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise BadRequest(f"Not a deal id: {value!r}.")


def _now() -> str:
    return iso(datetime.now(UTC))
