"""`python manage.py hubspot_simulator --port 8765 --deals 1000 [--seed S] [--days D] ...`

Serves the part of HubSpot's CRM API the project uses, from memory, on 127.0.0.1; with
`--webhook-url`, also sends HubSpot's signed webhooks there when deals check in. Prints one
line when ready (`hubspot simulator listening on http://127.0.0.1:PORT (N deals)`) and stops
cleanly on SIGTERM or SIGINT. See hubspot/simulator/__init__.py for the API and knobs.
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubspot.simulator.app import build_simulator
from hubspot.simulator.config import SimulatorConfig
from hubspot.simulator.server import SimulatorServer

# CLI flag -> SimulatorConfig field (run-time knobs; the rest shape the initial data).
_KNOB_FLAGS = {
    "search_rps": float,
    "search_burst": int,
    "general_limit_10s": float,
    "daily_limit": int,
    "retry_after": float,
    "index_lag": float,
    "error_500_share": float,
    "error_502_share": float,
    "malformed_share": float,
    "timeout_share": float,
    "timeout_hold_seconds": float,
    "disconnect_share": float,
    "latency_ms": float,
    "missing_amount_share": float,
    "epoch_ms_share": float,
    "trickle_seconds": float,
}
_KNOB_FIELDS = {"retry_after": "retry_after_seconds", "index_lag": "index_lag_seconds"}


class Command(BaseCommand):
    help = (
        "Run a local HubSpot CRM API simulator (deals: search, batch read/update, get), "
        "optionally sending signed webhooks."
    )
    requires_system_checks: list[str] = []  # starts fast, needs no database

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = SimulatorConfig()
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument("--deals", type=int, default=1000, help="deals generated at start")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--days", type=float, default=30.0, help="checked-in times span")
        parser.add_argument("--token", default="sim-token", help="the bearer token accepted")
        parser.add_argument(
            "--checked-in-property", default=None, help="default HUBSPOT_CHECKED_IN_PROPERTY"
        )
        parser.add_argument(
            "--same-second", type=int, default=0, help="deals checked in at one same second"
        )
        parser.add_argument(
            "--same-second-at", default=None, help="ISO time of that second (default mid-window)"
        )
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="send HubSpot's deal webhooks here when deals check in (e.g. "
            "http://127.0.0.1:8000/api/webhooks/hubspot/)",
        )
        parser.add_argument(
            "--webhook-secret",
            default=None,
            help="the client secret that signs them (default HUBSPOT_CLIENT_SECRET)",
        )
        help_texts = {
            "search_rps": "search requests per second before 429; 0: no limit",
            "search_burst": "search requests allowed at once after an idle spell",
            "general_limit_10s": "other CRM requests per rolling 10 s before 429; 0: no limit",
            "daily_limit": "calls a day (all but search) before 429 DAILY; 0: no cap",
            "retry_after": "Retry-After seconds on 429s; 0: no header",
            "index_lag": "seconds before added/changed deals show in search",
            "error_500_share": "share of CRM API requests answered 500",
            "error_502_share": "share of CRM API requests answered 502 (HTML body)",
            "malformed_share": "share of 200/207 answers with cut-off JSON",
            "timeout_share": "share of requests held --timeout-hold-seconds (client timeouts)",
            "timeout_hold_seconds": "how long a 'timeout' request is held",
            "disconnect_share": "share of requests whose connection is closed unanswered",
            "latency_ms": "added to every CRM API answer",
            "missing_amount_share": "share of new deals without an amount",
            "epoch_ms_share": "share of new deals whose checked-in value is epoch-ms, not ISO",
            "trickle_seconds": "add one deal checked in now every so many seconds; 0: off",
        }
        for flag, kind in _KNOB_FLAGS.items():
            field = _KNOB_FIELDS.get(flag, flag)
            parser.add_argument(
                "--" + flag.replace("_", "-"),
                dest=flag,
                type=kind,
                default=getattr(defaults, field),
                help=help_texts[flag] + " (default %(default)s)",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = SimulatorConfig()
            config.update({_KNOB_FIELDS.get(flag, flag): options[flag] for flag in _KNOB_FLAGS})
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["deals"] < 0 or options["same_second"] > options["deals"]:
            raise CommandError("--deals must be >= 0 and --same-second at most --deals")
        webhook_secret = options["webhook_secret"] or settings.HUBSPOT_CLIENT_SECRET
        if options["webhook_url"] and not webhook_secret:
            raise CommandError("--webhook-url needs --webhook-secret or HUBSPOT_CLIENT_SECRET")
        same_second_at = None
        if options["same_second_at"]:
            try:
                same_second_at = datetime.fromisoformat(options["same_second_at"])
            except ValueError:
                raise CommandError("--same-second-at must be an ISO-8601 datetime") from None
            if same_second_at.tzinfo is None:
                same_second_at = same_second_at.replace(tzinfo=UTC)

        app = build_simulator(
            deals=options["deals"],
            seed=options["seed"],
            days=options["days"],
            token=options["token"],
            checked_in_property=options["checked_in_property"]
            or settings.HUBSPOT_CHECKED_IN_PROPERTY,
            config=config,
            same_second=options["same_second"],
            same_second_at=same_second_at,
            webhook_url=options["webhook_url"],
            webhook_secret=webhook_secret,
        )
        server = SimulatorServer(app, port=options["port"])
        stopping: list[int] = []
        # The handlers only note the signal. Shutting the server down from a handler, on the
        # thread running serve_forever, would deadlock; so would Event.set(), whose lock the
        # main thread may hold inside Event.wait() at the instant the handler runs.
        signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
        signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
        thread = server.start_in_thread()
        app.start()
        sys.stdout.write(
            f"hubspot simulator listening on {server.base_url} ({options['deals']} deals)\n"
        )
        sys.stdout.flush()
        try:
            while not stopping:
                time.sleep(0.2)
        finally:
            app.stop()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
