"""The simulator's webhooks (webhooks.py): signed as HubSpot signs them (checked with our
own verifier), sent when deals check in, retried when refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hubspot.signatures import verify_signature_v3
from hubspot.tests.simulator.helpers import session_for
from vcc.testing import wait_until

SECRET = "sim-webhook-secret"


class Receiver(ThreadingHTTPServer):
    """Records every request; answers with the next scripted status (then 204)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict] = []
        self.statuses: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/webhooks/hubspot/"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"headers": dict(self.headers), "body": body})
        status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def events_of(request: dict) -> list[dict]:
    return json.loads(request["body"])


def test_checked_in_deals_are_sent_as_signed_hubspot_webhooks(start_hubspot_simulator, receiver):
    sim = start_hubspot_simulator(
        deals=5, extra_args=["--webhook-url", receiver.url, "--webhook-secret", SECRET]
    )

    ids = sim.add_deals(count=2)

    wait_until(lambda: sum(len(events_of(r)) for r in receiver.received) >= 4, what="4 events")
    events = [event for request in receiver.received for event in events_of(request)]
    assert sorted((str(e["objectId"]), e["subscriptionType"]) for e in events) == sorted(
        [(i, "deal.creation") for i in ids] + [(i, "deal.propertyChange") for i in ids]
    )
    changes = [e for e in events if e["subscriptionType"] == "deal.propertyChange"]
    assert {e["propertyName"] for e in changes} == {"checked_in_at"}
    assert all(e["propertyValue"] and e["attemptNumber"] == 0 for e in changes)
    assert len({e["eventId"] for e in events}) == 4
    for request in receiver.received:
        headers = request["headers"]
        verify_signature_v3(  # raises if HubSpot's signature does not check out
            secrets=[SECRET],
            method="POST",
            uri=receiver.url,
            body=request["body"],
            signature=headers["X-HubSpot-Signature-v3"],
            timestamp=headers["X-HubSpot-Request-Timestamp"],
            now_ms=int(time.time() * 1000),
        )
    # Counted once the answer is back, a moment after the receiver has the request.
    wait_until(lambda: sim.webhooks()["events_sent"] == 4, what="4 events counted as sent")


def test_a_refused_delivery_is_sent_again_resigned(start_hubspot_simulator, receiver):
    receiver.statuses = [500]
    sim = start_hubspot_simulator(
        deals=5, extra_args=["--webhook-url", receiver.url, "--webhook-secret", SECRET]
    )

    sim.add_deals(count=1)

    wait_until(lambda: len(receiver.received) >= 2, timeout=15, what="a second delivery")
    first, second = (events_of(r) for r in receiver.received[:2])
    assert [e["eventId"] for e in first] == [e["eventId"] for e in second]
    assert {e["attemptNumber"] for e in second} == {1}

    # The simulator records a delivery once the receiver has answered it: wait for that too.
    def both_recorded() -> list[dict] | None:
        deliveries = sim.webhooks()["deliveries"]
        return deliveries if len(deliveries) >= 2 else None

    deliveries = wait_until(both_recorded, timeout=15, what="the simulator to record both")
    assert [(d["status"], d["attempt"]) for d in deliveries[:2]] == [(500, 0), (204, 1)]


def test_a_batch_update_of_the_checked_in_property_is_sent_as_a_property_change(
    start_hubspot_simulator, receiver
):
    sim = start_hubspot_simulator(
        deals=5, extra_args=["--webhook-url", receiver.url, "--webhook-secret", SECRET]
    )
    deal_id = (
        session_for(sim)
        .post(sim.base_url + "/crm/objects/2026-09/deals/search", json={"limit": 1}, timeout=10)
        .json()["results"][0]["id"]
    )
    update = {"inputs": [{"id": deal_id, "properties": {"checked_in_at": "2031-01-01T00:00:00Z"}}]}

    session_for(sim).post(sim.base_url + "/crm/objects/2026-09/deals/batch/update", json=update)

    wait_until(lambda: receiver.received, what="the property change webhook")
    [event] = events_of(receiver.received[0])
    assert (event["subscriptionType"], str(event["objectId"])) == ("deal.propertyChange", deal_id)
    assert event["propertyValue"] == "2031-01-01T00:00:00Z"
    assert sim.deal(deal_id)["updates"][0]["properties"] == update["inputs"][0]["properties"]


def test_the_general_limit_answers_429_past_its_count_per_10_seconds(start_hubspot_simulator):
    sim = start_hubspot_simulator(deals=5, extra_args=["--general-limit-10s", "2"])
    session = session_for(sim)
    url = sim.base_url + "/crm/objects/2026-09/deals/batch/read"

    answers = [session.post(url, json={"inputs": [{"id": "1"}]}, timeout=10) for _ in range(3)]

    assert [a.status_code for a in answers] == [207, 207, 429]
    assert answers[2].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert sim.stats()["rate_limited"] == 1


def test_deletion_restore_and_merge_are_sent_as_signed_webhooks(start_hubspot_simulator, receiver):
    sim = start_hubspot_simulator(
        deals=5, extra_args=["--webhook-url", receiver.url, "--webhook-secret", SECRET]
    )
    first, second = (
        session_for(sim)
        .post(sim.base_url + "/crm/objects/2026-09/deals/search", json={"limit": 2}, timeout=10)
        .json()["results"]
    )

    sim.delete_deal(first["id"])
    sim.restore_deal(first["id"])
    new_id = sim.merge_deals(primary=first["id"], merged=[second["id"]])

    def lifecycle_events() -> list[dict] | None:
        events = [e for request in receiver.received for e in events_of(request)]
        return events if len(events) >= 3 else None

    events = wait_until(lifecycle_events, what="3 lifecycle events")
    kinds = {e["subscriptionType"]: e for e in events}
    assert sorted(kinds) == ["deal.deletion", "deal.merge", "deal.restore"]
    assert str(kinds["deal.deletion"]["objectId"]) == first["id"]
    assert str(kinds["deal.restore"]["objectId"]) == first["id"]
    merge = kinds["deal.merge"]
    assert (merge["objectId"], merge["newObjectId"]) == (int(new_id), int(new_id))
    assert merge["primaryObjectId"] == int(first["id"])
    assert merge["mergedObjectIds"] == [int(second["id"])]
    assert len({e["eventId"] for e in events}) == 3
    for request in receiver.received:
        verify_signature_v3(  # raises if HubSpot's signature does not check out
            secrets=[SECRET],
            method="POST",
            uri=receiver.url,
            body=request["body"],
            signature=request["headers"]["X-HubSpot-Signature-v3"],
            timestamp=request["headers"]["X-HubSpot-Request-Timestamp"],
            now_ms=int(time.time() * 1000),
        )
