"""Deals checked in while the simulator runs: added through the control endpoint, or one
every `trickle_seconds` by the trickle thread (so a demo sees deals arrive on their own)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from .config import SimulatorConfig
from .data import DealGenerator, DealRecord, iso
from .store import DealStore


class Arrivals:
    def __init__(
        self,
        *,
        store: DealStore,
        factory: DealGenerator,
        config: SimulatorConfig,
        on_checked_in: Callable[[list[DealRecord]], None] | None = None,
    ) -> None:
        self.store = store
        self.factory = factory
        self.config = config
        self.on_checked_in = on_checked_in  # e.g. send webhooks
        self._factory_lock = threading.Lock()
        self._stop = threading.Event()
        self._trickle_thread: threading.Thread | None = None

    def add_deals(
        self,
        *,
        count: int,
        checked_in_at: datetime | None = None,
        properties: Mapping[str, str | None] | None = None,
    ) -> list[DealRecord]:
        """`count` new deals checked in at `checked_in_at` (default now), created now: HubSpot
        stamps them modified now whatever their checked-in value says (a backdated one)."""
        now = datetime.now(UTC)
        properties = {"hs_lastmodifieddate": iso(now), **(properties or {})}
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
        if self.on_checked_in is not None:
            self.on_checked_in(records)
        return records

    def new_id(self) -> int:
        """A new deal id, from the same sequence as the deals added (a merge's new deal)."""
        with self._factory_lock:
            return self.factory.new_id()

    def start_trickle(self) -> None:
        """Adds one deal checked in "now" every `trickle_seconds` (read each time, so it can
        be turned on, off or changed at run time)."""

        def run() -> None:
            next_at: float | None = None
            while not self._stop.wait(0.05):
                next_at = self.trickle_step(now=time.monotonic(), next_at=next_at)

        self._trickle_thread = threading.Thread(target=run, name="trickle", daemon=True)
        self._trickle_thread.start()

    def trickle_step(self, *, now: float, next_at: float | None) -> float | None:
        """One look of the trickle at the clock: adds a deal when one is due; returns when
        the next is due (None while the trickle is off)."""
        seconds = self.config.trickle_seconds
        if seconds <= 0:
            return None
        if next_at is None:
            return now + seconds
        if now < next_at:
            return next_at
        self.add_deals(count=1)
        return now + seconds

    def stop(self) -> None:
        self._stop.set()
        if self._trickle_thread is not None:
            self._trickle_thread.join(timeout=5)
