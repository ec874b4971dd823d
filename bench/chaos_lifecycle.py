"""Deals deleted, restored and merged in HubSpot among a chaos run's arrivals, some of
their webhooks lost (bench/chaos_system.py drives it; bench/chaos_checks.py checks it).

While deals arrive, a thread acts on deals that have arrived, as HubSpot's users would:
deletes one, restores one it deleted, or merges two into a new deal, one action every
`every` seconds; the simulator sends each action's webhook unless the draw loses it (a
delivery HubSpot never made). Once everything has drained, one reconcile pass
(`reconcile_hubspot`) must find what the lost webhooks did not say.

What HubSpot ends with is read from the simulator itself (`hubspot_truth`): the live
deals (search), and each merged-away id's survivor (the survivors' hs_merged_object_ids).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from hubspot.simulator.process import RunningSimulator


class LifecycleEvents:
    def __init__(
        self, sim: RunningSimulator, *, seed: int, every: float, lose_share: float
    ) -> None:
        self.sim = sim
        self.rng = random.Random(seed)
        self.every = every
        self.lose_share = lose_share
        self.arrived: list[str] = []  # ids the arrivals added (appended by the harness)
        self._gone: set[str] = set()  # deleted or merged away, as far as HubSpot goes
        self._deleted: list[str] = []  # deleted, restorable
        self.done: Counter[str] = Counter()  # actions taken, and webhooks lost
        self.errors: list[str] = []

    def run(self, stop: threading.Event, arrived: threading.Event) -> None:
        """Act until the arrivals are over (or the run stops)."""
        while not stop.wait(self.every) and not arrived.is_set():
            try:
                self._act()
            except requests.RequestException as exc:  # the simulator refused: note it
                self.errors.append(repr(exc))

    def _act(self) -> None:
        live = [deal_id for deal_id in self.arrived if deal_id not in self._gone]
        if len(live) < 3:
            return
        webhook = self.rng.random() >= self.lose_share
        if not webhook:
            self.done["webhooks lost"] += 1
        draw = self.rng.random()
        if draw < 0.4:
            deal_id = self.rng.choice(live)
            self.sim.delete_deal(deal_id, webhook=webhook)
            self._gone.add(deal_id)
            self._deleted.append(deal_id)
            self.done["deleted"] += 1
        elif draw < 0.6 and self._deleted:
            deal_id = self._deleted.pop(self.rng.randrange(len(self._deleted)))
            self.sim.restore_deal(deal_id, webhook=webhook)
            self._gone.discard(deal_id)
            self.done["restored"] += 1
        else:
            primary, merged = self.rng.sample(live, 2)
            new = self.sim.merge_deals(primary=primary, merged=[merged], webhook=webhook)
            self._gone.update((primary, merged))
            self.arrived.append(new)  # the new deal may be merged or deleted in turn
            self.done["merged"] += 1


def hubspot_truth(sim: RunningSimulator) -> tuple[set[str], dict[str, str]]:
    """HubSpot's live deal ids, and each merged-away id's final survivor."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    live: set[str] = set()
    absorbed_by: dict[str, str] = {}
    last = "0"
    while True:
        body = {
            "limit": 200,
            "properties": ["hs_object_id", "hs_merged_object_ids"],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "filterGroups": [
                {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": last}]}
            ],
        }
        response = session.post(
            sim.base_url + "/crm/objects/2026-09/deals/search", json=body, timeout=30
        )
        if response.status_code == 429:  # the simulator's search limit, shared with syncs
            time.sleep(0.5)
            continue
        response.raise_for_status()
        results = response.json()["results"]
        if not results:
            return live, absorbed_by
        for result in results:
            live.add(result["id"])
            merged = (result["properties"].get("hs_merged_object_ids") or "").split(";")
            for absorbed in filter(None, merged):
                absorbed_by[absorbed] = result["id"]
        last = results[-1]["id"]
