"""No secret leaves the process: with recognisable values for the HubSpot token and the
client secret, run syncs that succeed and fail (in-process and on a real worker), open the
admin's pages and call the API, capture every log line, response body and error, and look
for either value anywhere."""

import io
import json
import logging
import time

import pytest
from django.conf import settings as django_settings

from deals.pipeline import deal_process
from deals.tests.factories import DealFactory
from hubspot.client import HubspotClient
from hubspot.models import SyncRun
from hubspot.services import sync_run_execute, sync_run_start
from hubspot.services.writeback import writeback_pass
from hubspot.simulator.process import start_simulator
from hubspot.simulator.webhooks import sign_v3
from vcc.logging import KeyValueFormatter
from vcc.testing import wait_until

TOKEN = "pat-na1-LEAKCANARY-7f3a9c41"
CLIENT_SECRET = "cs-LEAKCANARY-51d2e8b0"
SECRETS = (TOKEN, CLIENT_SECRET, "LEAKCANARY")


@pytest.fixture
def every_log_line(settings, monkeypatch):
    """Every log line the project writes during the test, formatted as in production."""
    settings.HUBSPOT_ACCESS_TOKEN = TOKEN
    settings.HUBSPOT_CLIENT_SECRET = CLIENT_SECRET
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    raw: list[logging.LogRecord] = []
    recorder = logging.Handler()
    # The records before formatting: redaction is not the defence.
    monkeypatch.setattr(recorder, "emit", raw.append)
    root = logging.getLogger()
    root.addHandler(handler)
    root.addHandler(recorder)
    try:
        yield stream, raw
    finally:
        root.removeHandler(handler)
        root.removeHandler(recorder)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def simulator():
    """A HubSpot simulator that accepts the recognisable token."""
    with start_simulator(
        deals=30, seed=5, token=TOKEN, extra_args=["--search-rps", "0", "--days", "1"]
    ) as running:
        yield running


def _post_webhook(client, *, secret: str):
    body = json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionType": "deal.creation",
                "objectId": 42,
                "occurredAt": int(time.time() * 1000),
                "attemptNumber": 0,
            }
        ]
    ).encode()
    stamp = str(int(time.time() * 1000))
    url = "/api/webhooks/hubspot/"
    signature = sign_v3(
        secret=secret, method="POST", url="http://testserver" + url, body=body, timestamp=stamp
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
    return client.post(url, data=body, content_type="application/json", headers=headers)


class _NoWait:
    def acquire(self) -> float:
        return 0.0


@pytest.mark.django_db(transaction=True)
def test_no_secret_in_logs_errors_pages_or_api_answers(
    every_log_line, simulator, admin_client, capfd, settings, no_broker
):
    stream, raw = every_log_line
    no_wait_limiter, sleeps = _NoWait(), lambda seconds: None
    good = HubspotClient(base_url=simulator.base_url, search_limiter=no_wait_limiter)
    # HubSpot refusing the token (a revoked one): 401, recorded on the run.
    refused = HubspotClient(
        access_token=TOKEN + "-revoked",
        base_url=simulator.base_url,
        search_limiter=no_wait_limiter,
        sleep=sleeps,
    )
    # HubSpot unreachable: a connection error, retried, then recorded.
    unreachable = HubspotClient(
        base_url="http://127.0.0.1:1", search_limiter=no_wait_limiter, max_retries=1, sleep=sleeps
    )
    runs = [
        sync_run_execute(run=sync_run_start(trigger=SyncRun.Trigger.COMMAND), client=client)
        for client in (good, refused, unreachable)
    ]
    assert [run.status for run in runs] == ["succeeded", "failed", "failed"]
    # Write-back: one pass that HubSpot takes, one it refuses (the error is kept and shown).
    settings.HUBSPOT_WRITEBACK_ENABLED = True
    synced = DealFactory.create(hubspot_deal_id=simulator.add_deals(count=1)[0])
    deal_process(deal_id=synced.id)
    assert writeback_pass(client=good).sent == 1
    refused_deal = DealFactory.create(hubspot_deal_id=simulator.add_deals(count=1)[0])
    deal_process(deal_id=refused_deal.id)
    assert writeback_pass(client=refused).failed == 1
    # Webhooks: one signed with the client secret, one with a wrong signature.
    webhook_answers = [_post_webhook(admin_client, secret=s) for s in (CLIENT_SECRET, "wrong")]
    assert [answer.status_code for answer in webhook_answers] == [200, 401]

    pages = [
        "/admin/",
        "/admin/hubspot/syncrun/",
        *(f"/admin/hubspot/syncrun/{run.id}/change/" for run in runs),
        "/admin/deals/deal/",
        f"/admin/deals/deal/{refused_deal.id}/change/",
        "/admin/deals/dealwriteback/",
        "/admin/hubspot/webhookevent/",
        "/admin/hubspot/dealpayload/",
        "/admin/hubspot/dealimport/",
        f"/api/deals/{refused_deal.id}/",
        "/api/sync/runs/",
        *(f"/api/sync/runs/{run.id}/" for run in runs),
        "/api/queue/deals/",
        "/api/schema/",
        "/queue/",
    ]
    bodies = {}
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        bodies[page] = response.content.decode()

    texts = {
        "log lines": stream.getvalue(),
        "raw log records": "\n".join(
            f"{record.getMessage()} {record.__dict__!r}" for record in raw
        ),
        "sync errors": "\n".join(run.error for run in runs),
        "client reprs": repr(good) + repr(refused),
        "webhook answers": "".join(answer.content.decode() for answer in webhook_answers),
        "stdout and stderr": "".join(capfd.readouterr()),
        **bodies,
    }
    assert "401" in texts["sync errors"]  # the failures were real, and are shown
    assert {name: _leaks(text) for name, text in texts.items() if _leaks(text)} == {}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_running_a_sync_writes_no_secret_to_its_log(
    celery_worker, simulator, admin_client
):
    worker = celery_worker(
        env={
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
            "HUBSPOT_BASE_URL": simulator.base_url,
            "LOG_LEVEL": "DEBUG",
        },
        concurrency=1,
    )

    run_id = admin_client.post("/api/sync/runs/").json()["id"]

    run = wait_until(
        lambda: SyncRun.objects.filter(id=run_id).exclude(status__in=["queued", "running"]).first(),
        timeout=120,
        what="the sync to finish on the worker",
    )
    assert run.status == "succeeded", run.error
    worker.stop()
    log = worker.log_path.read_text()
    assert "sync_finished" in log  # the worker did log its work, at DEBUG
    assert _leaks(log) == []
    assert django_settings.HUBSPOT_ACCESS_TOKEN not in log
