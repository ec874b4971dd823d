"""The HTTP side of the simulator: a threading HTTP/1.1 server on 127.0.0.1 around a
`SimulatorApp`. Keep-alive is on, so a `requests.Session` reuses its connection."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .app import SimulatorApp
from .protocol import Request

HOST = "127.0.0.1"


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # a held ("timeout") request must not block shutdown
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: SimulatorApp, *, port: int = 0) -> None:
        self.app = app
        super().__init__((HOST, port), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def start_in_thread(self) -> threading.Thread:
        """Serve from a background thread (for callers that embed the simulator)."""
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSimulator/1.0"
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        request = Request(
            method=method,
            path=url.path,
            query=parse_qs(url.query),
            headers=self.headers,
            body=body,
            client_host=self.client_address[0],
        )
        answer = self.server.app.handle(request)
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        if answer.disconnect:
            self.close_connection = True  # nothing sent: the client sees the connection drop
            return
        payload = answer.body()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-HubSpot-Correlation-Id", _correlation_id(answer.payload))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. it timed out on a held request).
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stderr would drown benchmarks; stats count them instead.
        return


def _correlation_id(payload: object) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("correlationId"), str):
        return payload["correlationId"]
    return str(uuid.uuid4())
