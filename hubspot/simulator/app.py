"""The simulator's behaviour, independent of HTTP: `SimulatorApp.handle(Request) -> Answer`
is everything the HTTP server (server.py) does with a request.

A CRM API request goes: routing (crm.py) -> the bearer token and the rate limits
(guards.py) -> fault injection (faults.py) -> the endpoint (crm.py), with the configured
latency added. `/_simulator/...` requests go to the control endpoints (control.py). Deals
checked in while running come from arrivals.py; with a webhook URL, webhooks.py sends
HubSpot's webhooks for them (and for batch updates of the checked-in property). Batch updates are
logged per deal, so tests can read back what was written (`GET /_simulator/deals/{id}`).
Answers follow HubSpot's deals spec (../shared/hubspot-spec/deals.json) and
../shared/hubspot-spec/NOTES.md.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .arrivals import Arrivals
from .config import SimulatorConfig
from .control import handle_control
from .crm import CrmApi, Handler
from .data import DealGenerator, DealRecord, generate_deals, iso
from .faults import Faults
from .guards import DailyLimit, GeneralRateLimit, SearchRateLimit, authorized, unauthorized
from .lifecycle import Lifecycle
from .protocol import Answer, BadRequest, Request, error_answer
from .store import DealStore
from .webhooks import WebhookSender

UPDATES_KEPT = 50  # batch updates remembered per deal


class SimulatorApp:
    def __init__(
        self,
        *,
        store: DealStore,
        factory: DealGenerator,
        config: SimulatorConfig,
        token: str,
        seed: int = 1,
        same_second_at: datetime | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.token = token
        self.same_second_at = same_second_at
        self.started_at = datetime.now(UTC)
        self.webhooks = webhooks
        self.crm = CrmApi(store=store, config=config, on_update=self._updated)
        self.search_limit = SearchRateLimit(config)
        self.general_limit = GeneralRateLimit(config)
        self.daily_limit = DailyLimit(config)
        self.faults = Faults(config, seed=seed)
        self.arrivals = Arrivals(
            store=store,
            factory=factory,
            config=config,
            on_checked_in=webhooks.deals_checked_in if webhooks else None,
        )
        self.lifecycle = Lifecycle(
            store=store, config=config, new_id=self.arrivals.new_id, webhooks=webhooks
        )
        self._lock = threading.Lock()  # the counters and the update log
        self._requests: Counter[str] = Counter()
        self._responses: Counter[str] = Counter()
        self._updates: dict[int, deque[dict[str, Any]]] = {}
        self._this_request = threading.local()  # the update log entries a request wrote

    def handle(self, request: Request) -> Answer:
        if request.path.startswith("/_simulator/"):
            return handle_control(self, request)
        endpoint, handler = self.crm.route(request.method, request.path)
        with self._lock:
            self._requests[endpoint] += 1
        answer = self._api(request, endpoint, handler)
        with self._lock:
            self._responses[str(answer.status)] += 1
        return answer

    def _api(self, request: Request, endpoint: str, handler: Handler | None) -> Answer:
        if not authorized(request.headers, self.token):
            answer = unauthorized()
        elif handler is None:
            answer = error_answer(404, "OBJECT_NOT_FOUND", f"No route for {request.path}")
        elif endpoint == "search" and not self.search_limit.admit():
            answer = self.search_limit.refusal()
        elif endpoint != "search" and not self.general_limit.admit():
            answer = self.general_limit.refusal()
        elif endpoint != "search" and not self.daily_limit.admit():
            answer = self.daily_limit.refusal()
        else:
            self._this_request.updates = []
            answer = self.faults.answer(lambda: _call(handler, request))
            # Writes whose answer the client never got (a timeout, a cut-off body): the
            # client sees a failure and sends them again, so they are told apart from
            # writes it was told succeeded.
            with self._lock:
                for entry in self._this_request.updates:
                    entry["answered"] = answer.fault_after_handler is None
            self._this_request.updates = []
        if endpoint != "search" and handler is not None and answer.status != 401:
            # As HubSpot: every non-search answer says the account's limits (search none).
            answer.headers.update(self.general_limit.headers())
            answer.headers.update(self.daily_limit.headers())
        answer.delay_seconds += self.config.latency_ms / 1000
        return answer

    # Deals checked in while running (arrivals.py).

    def add_deals(
        self,
        *,
        count: int,
        checked_in_at: datetime | None = None,
        properties: Mapping[str, str | None] | None = None,
    ) -> list[DealRecord]:
        return self.arrivals.add_deals(
            count=count, checked_in_at=checked_in_at, properties=properties
        )

    def start(self) -> None:
        """Start the background threads: the trickle, and the webhook sender if any."""
        if self.webhooks is not None:
            self.webhooks.start()
        self.arrivals.start_trickle()

    def stop(self) -> None:
        self.arrivals.stop()
        if self.webhooks is not None:
            self.webhooks.stop()

    def _updated(self, record: DealRecord, properties: dict[str, Any]) -> None:
        at = iso(datetime.now(UTC))
        entry = {"at": at, "properties": dict(properties), "answered": True}
        with self._lock:
            log = self._updates.setdefault(record.id, deque(maxlen=UPDATES_KEPT))
            log.append(entry)
        getattr(self._this_request, "updates", []).append(entry)
        if self.webhooks is not None:
            self.webhooks.deal_changed(record, list(properties))

    def deal_record(self, deal_id: int) -> dict[str, Any] | None:
        """A deal as the simulator holds it, with the batch updates written to it."""
        record = self.store.get(deal_id)
        archived = None if record else self.store.get_archived(deal_id)
        if archived is not None:
            record = archived.record
        if record is None:
            return None
        with self._lock:
            updates = list(self._updates.get(record.id, ()))
        return {
            "id": str(record.id),
            "properties": dict(record.properties),
            "updatedAt": record.updated_at,
            "archived": archived is not None,
            "archivedAt": archived.archived_at if archived else None,
            "updates": updates,
        }

    def all_updates(self) -> dict[str, list[dict[str, Any]]]:
        """Every deal written by batch update, with its updates (oldest first): each
        `answered` false when the client never got the answer (a fault after the write)."""
        with self._lock:
            return {str(deal_id): [dict(u) for u in log] for deal_id, log in self._updates.items()}

    # What the control endpoints report (control.py).

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = {
                "requests": dict(self._requests),
                "responses": dict(self._responses),
            }
        return {
            **self.store.counts(),
            **counters,
            "rate_limited": self.search_limit.refused
            + self.general_limit.refused
            + self.daily_limit.refused,
            "daily_used": self.daily_limit.used,
            "faults": self.faults.snapshot(),
            "checked_in_property": self.store.checked_in_property,
            "same_second_at": iso(self.same_second_at) if self.same_second_at else None,
            "started_at": iso(self.started_at),
        }

    def reset_counters(self) -> None:
        with self._lock:
            self._requests = Counter()
            self._responses = Counter()
        self.search_limit.reset_count()
        self.general_limit.reset_count()
        self.daily_limit.refused = 0
        self.faults.reset_counts()


def _call(handler: Handler, request: Request) -> Answer:
    try:
        return handler(request)
    except BadRequest as exc:
        return error_answer(400, exc.category, exc.message)


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
    webhook_url: str | None = None,
    webhook_secret: str = "",
) -> SimulatorApp:
    """A simulator holding `deals` generated deals, deterministic for a seed; sending
    webhooks to `webhook_url`, signed with `webhook_secret`, when one is given."""
    now = datetime.now(UTC)
    if same_second and same_second_at is None:
        # Middle of the window, on a whole second.
        middle = now - timedelta(days=days / 2)
        same_second_at = middle.replace(microsecond=0)
    store = DealStore(checked_in_property=checked_in_property)
    factory = DealGenerator(seed=seed, checked_in_property=checked_in_property)
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
        webhooks=WebhookSender(
            url=webhook_url, secret=webhook_secret, checked_in_property=checked_in_property
        )
        if webhook_url
        else None,
    )
