"""Start the simulator as a subprocess, for tests, benchmarks and scripts.

    with start_simulator(deals=5000, seed=7, extra_args=["--search-rps", "50"]) as sim:
        client = HubspotClient(access_token=sim.token, base_url=sim.base_url, ...)
        sim.add_deals(count=3)                       # -> ["10000012345", ...]
        sim.configure(error_500_share=0.2)           # change knobs while it runs
        sim.stats()["rate_limited"]                  # 429s served so far
        sim.deal("10000012345")["updates"]           # what batch updates wrote to a deal
        sim.webhooks()["deliveries"]                 # webhooks sent (with --webhook-url)
        sim.delete_deal(id), sim.restore_deal(id)    # the deal lifecycle (lifecycle.py)
        sim.merge_deals(primary=a, merged=[b])       # -> the new deal's id

It runs `python manage.py hubspot_simulator --port 0 ...`, waits (with a deadline, no blind
sleep) for the "listening on" line, and terminates the process on exit.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import requests

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
_LISTENING = re.compile(r"hubspot simulator listening on (http://\S+) \((\d+) deals\)")
_CONTROL_TIMEOUT = 30.0


class SimulatorStartError(RuntimeError):
    pass


class RunningSimulator:
    def __init__(self, *, base_url: str, token: str, process: subprocess.Popen) -> None:
        self.base_url = base_url
        self.token = token
        self.process = process
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"RunningSimulator(base_url={self.base_url!r}, pid={self.process.pid})"

    def add_deals(
        self,
        *,
        count: int = 1,
        checked_in_at: datetime | str | None = None,
        properties: Mapping[str, str | None] | None = None,
    ) -> list[str]:
        """Add deals now (checked in at `checked_in_at`, default now); returns their ids."""
        body: dict[str, Any] = {"count": count}
        if checked_in_at is not None:
            body["checked_in_at"] = (
                checked_in_at.isoformat() if isinstance(checked_in_at, datetime) else checked_in_at
            )
        if properties is not None:
            body["properties"] = dict(properties)
        return self._control("POST", "/_simulator/deals", body)["ids"]

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change run-time knobs (see hubspot/simulator/config.py); returns them all."""
        return self._control("POST", "/_simulator/config", knobs)

    def reset_daily_limit(self) -> dict[str, Any]:
        """HubSpot's midnight: the daily cap's count starts again."""
        return self._control("POST", "/_simulator/daily/reset")

    def config(self) -> dict[str, Any]:
        return self._control("GET", "/_simulator/config")

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_simulator/stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._control("POST", "/_simulator/stats/reset")

    def deal(self, deal_id: str) -> dict[str, Any]:
        """The deal's properties now, and the batch updates written to it (oldest first)."""
        return self._control("GET", f"/_simulator/deals/{deal_id}")

    def delete_deal(self, deal_id: str, *, webhook: bool = True) -> dict[str, Any]:
        """Delete (archive) a deal, as HubSpot's user would: {"id", "archived", "archivedAt"}.
        `webhook=False`: its webhook is lost."""
        return self._control("POST", f"/_simulator/deals/{deal_id}/delete", {"webhook": webhook})

    def restore_deal(self, deal_id: str, *, webhook: bool = True) -> dict[str, Any]:
        """Restore a deal deleted in the last 90 days (hs_lastmodifieddate bumped)."""
        path = f"/_simulator/deals/{deal_id}/restore"
        return self._control("POST", path, {"webhook": webhook})

    def merge_deals(self, *, primary: str, merged: Sequence[str], webhook: bool = True) -> str:
        """Merge deals as HubSpot does: into a NEW deal, whose id this returns."""
        body = {"primary": str(primary), "merged": [str(i) for i in merged], "webhook": webhook}
        return self._control("POST", "/_simulator/merge", body)["id"]

    def updates(self) -> dict[str, list[dict[str, Any]]]:
        """Batch updates received, per deal id (oldest first; `answered` false when a fault
        hid the answer from the client)."""
        return self._control("GET", "/_simulator/updates")

    def webhooks(self) -> dict[str, Any]:
        """Webhooks sent so far (needs --webhook-url): counts and the recent deliveries."""
        return self._control("GET", "/_simulator/webhooks")

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        response = self._session.request(
            method, self.base_url + path, json=body, timeout=_CONTROL_TIMEOUT
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._session.close()


@contextmanager
def start_simulator(
    *,
    deals: int = 100,
    seed: int = 1,
    token: str = "sim-token",
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
    python: str = sys.executable,
) -> Iterator[RunningSimulator]:
    command = [
        python,
        str(MANAGE_PY),
        "hubspot_simulator",
        "--port",
        "0",
        "--deals",
        str(deals),
        "--seed",
        str(seed),
        "--token",
        token,
        *extra_args,
    ]
    # stderr goes to a file, not a pipe nobody reads (a full pipe would block the server);
    # its tail explains a failed start.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=MANAGE_PY.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        simulator: RunningSimulator | None = None
        try:
            base_url = _wait_until_listening(process, startup_timeout, stderr)
            simulator = RunningSimulator(base_url=base_url, token=token, process=process)
            yield simulator
        finally:
            if simulator is not None:
                simulator.close()
            _stop(process)


def _wait_until_listening(process: subprocess.Popen, timeout: float, stderr: IO[bytes]) -> str:
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout() -> None:
        # Keeps draining stdout for the process' life, so it never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:  # the process ended
            break
        match = _LISTENING.search(line)
        if match:
            return match.group(1)
    _stop(process)
    stderr.seek(0)
    tail = stderr.read().decode(errors="replace")[-2000:]
    raise SimulatorStartError(
        f"the simulator did not report listening within {timeout}s "
        f"(exit code {process.returncode}); stderr:\n{tail}"
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
