"""Faults injected into CRM API answers, each a share of requests set by a knob (config.py):
500, 502 with an HTML body, a connection closed unanswered, an answer held past the client's
timeout, and 200/207 bodies cut off mid-JSON. Deterministic for a seed; counted for stats."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

from .config import SimulatorConfig
from .protocol import Answer, error_answer


class Faults:
    def __init__(self, config: SimulatorConfig, *, seed: int) -> None:
        self.config = config
        self._rng = random.Random(f"faults-{seed}")
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def answer(self, handler: Callable[[], Answer]) -> Answer:
        """`handler()`'s answer, or the fault this request drew instead. Latency is added by
        the caller; a "timeout" adds the hold on top."""
        fault = self._draw()
        if fault == "500":
            return error_answer(500, "INTERNAL_ERROR", "An internal error occurred.")
        if fault == "502":
            return Answer(
                status=502,
                raw=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if fault == "disconnect":
            return Answer(disconnect=True)
        answer = handler()
        if fault == "timeout":
            # Held past the client's timeout; it has given up by the time this is sent.
            answer.delay_seconds += self.config.timeout_hold_seconds
            answer.fault_after_handler = "timeout"
        elif answer.status in (200, 207) and self._roll(self.config.malformed_share):
            body = answer.body()
            answer.raw = body[: max(1, len(body) // 2)]
            answer.fault_after_handler = "malformed"
            self._count("malformed")
        return answer

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts = Counter()

    def _roll(self, share: float) -> bool:
        if share <= 0:
            return False
        with self._lock:
            return self._rng.random() < share

    def _draw(self) -> str | None:
        config = self.config
        shares = (
            ("500", config.error_500_share),
            ("502", config.error_502_share),
            ("timeout", config.timeout_share),
            ("disconnect", config.disconnect_share),
        )
        if not any(share > 0 for _, share in shares):
            return None
        with self._lock:
            draw = self._rng.random()
        for name, share in shares:
            if draw < share:
                self._count(name)
                return name
            draw -= share
        return None

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1
