"""POST /api/webhooks/hubspot/: signed deal events recorded once; anything else refused
with nothing stored."""

import json
import time

import pytest

from hubspot.models import WebhookEvent
from hubspot.simulator.webhooks import sign_v3

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/hubspot/"
SECRET = "test-client-secret"


@pytest.fixture(autouse=True)
def client_secret(settings):
    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.HUBSPOT_WEBHOOK_URL = ""


@pytest.fixture
def jobs(monkeypatch) -> list[tuple]:
    sent: list[tuple] = []
    monkeypatch.setattr("hubspot.tasks.process_webhook_events.delay", lambda *a: sent.append(a))
    return sent


def event(object_id: int = 123, **fields) -> dict:
    return {
        "eventId": 100 + object_id,
        "subscriptionId": 1001,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.creation",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        **fields,
    }


def post(client, body: bytes | list, *, secret: str = SECRET, timestamp: int | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    signature = sign_v3(
        secret=secret, method="POST", url="http://testserver" + URL, body=raw, timestamp=stamp
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
    return client.post(URL, data=raw, content_type="application/json", headers=headers)


def test_signed_deal_events_are_recorded_and_processed_after_commit(
    client, jobs, django_capture_on_commit_callbacks
):
    checked_in = event(7, subscriptionType="deal.propertyChange", propertyName="checked_in_at")
    checked_in["propertyValue"] = "2026-01-01T00:00:00Z"
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, [event(5), checked_in])

    assert response.status_code == 200
    assert response.json() == {"recorded": 2}
    rows = WebhookEvent.objects.order_by("hubspot_deal_id")
    assert [(e.hubspot_deal_id, e.subscription_type, e.status) for e in rows] == [
        ("5", "deal.creation", "pending"),
        ("7", "deal.propertyChange", "pending"),
    ]
    assert rows[1].property_value == "2026-01-01T00:00:00Z"
    assert len(jobs) == 1


def test_a_redelivered_or_replayed_event_changes_nothing(
    client, jobs, django_capture_on_commit_callbacks
):
    original = event(5)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, [original])
        replayed = post(client, [original])
        redelivered = post(client, [{**original, "attemptNumber": 3}])

    assert [r.status_code for r in (first, replayed, redelivered)] == [200, 200, 200]
    assert [r.json()["recorded"] for r in (first, replayed, redelivered)] == [1, 0, 0]
    assert WebhookEvent.objects.count() == 1
    assert len(jobs) == 1


def test_other_events_are_accepted_and_ignored(client, jobs):
    other = [
        event(1, subscriptionType="contact.creation"),
        event(2, subscriptionType="deal.propertyChange", propertyName="dealname"),
        event(3, subscriptionType="deal.associationChange"),
    ]

    response = post(client, other)

    assert response.status_code == 200 and response.json() == {"recorded": 0}
    assert not WebhookEvent.objects.exists()


def test_deletions_and_restores_are_recorded(client, jobs):
    lifecycle = [
        event(1, subscriptionType="deal.deletion"),
        event(2, subscriptionType="deal.restore"),
    ]

    response = post(client, lifecycle)

    assert response.status_code == 200 and response.json() == {"recorded": 2}
    assert set(WebhookEvent.objects.values_list("subscription_type", flat=True)) == {
        "deal.deletion",
        "deal.restore",
    }


def test_a_merge_is_recorded_under_its_new_deal_with_the_ids_it_absorbed(client, jobs):
    merge = event(
        9, subscriptionType="deal.merge", primaryObjectId=1, mergedObjectIds=[2, 3], newObjectId=9
    )

    response = post(client, [merge])

    assert response.status_code == 200 and response.json() == {"recorded": 1}
    recorded = WebhookEvent.objects.get()
    assert (recorded.hubspot_deal_id, recorded.property_value) == ("9", "1;2;3")


@pytest.mark.parametrize(
    ("how", "detail"),
    [
        ({"secret": "not-the-secret"}, "signature does not match"),
        ({"timestamp": int(time.time() * 1000) - 5 * 60 * 1000 - 5000}, "5 minutes"),
    ],
)
def test_a_wrong_or_stale_signature_gets_401_and_stores_nothing(client, jobs, how, detail):
    response = post(client, [event()], **how)

    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert not WebhookEvent.objects.exists() and not jobs


def test_an_unsigned_request_gets_401(client):
    response = client.post(URL, data=[event()], content_type="application/json")

    assert response.status_code == 401
    assert "X-HubSpot-Signature-v3" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_the_signature_checks_the_url_registered_with_hubspot_when_set(client, settings):
    settings.HUBSPOT_WEBHOOK_URL = "https://vcc.example/api/webhooks/hubspot/"
    raw = json.dumps([event()]).encode()
    stamp = str(int(time.time() * 1000))
    signature = sign_v3(
        secret=SECRET, method="POST", url=settings.HUBSPOT_WEBHOOK_URL, body=raw, timestamp=stamp
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}

    signed_for_registered = client.post(URL, raw, content_type="application/json", headers=headers)
    signed_for_seen = post(client, [event(9)])

    assert signed_for_registered.status_code == 200
    assert signed_for_seen.status_code == 401


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "not JSON"),
        (b'{"eventId": 1}', "non-empty JSON array"),
        (b"[]", "non-empty JSON array"),
        (json.dumps([event(), {"eventId": 2}]).encode(), "Event 1: subscriptionType"),
        (json.dumps([event(objectId="abc")]).encode(), "Event 0: objectId"),
        (json.dumps([event()] * 1001).encode(), "At most 1000 events"),
        (json.dumps([event(mergedObjectIds=["x"])]).encode(), "Event 0: mergedObjectIds"),
        (json.dumps([event(mergedObjectIds=5)]).encode(), "Event 0: mergedObjectIds"),
    ],
)
def test_a_malformed_body_gets_400_naming_the_problem_and_stores_nothing(
    client, jobs, body, detail
):
    response = post(client, body)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not WebhookEvent.objects.exists() and not jobs


def test_without_a_client_secret_webhooks_are_unavailable(client, settings):
    settings.HUBSPOT_CLIENT_SECRET = ""

    response = post(client, [event()], secret="")

    assert response.status_code == 503
    assert "HUBSPOT_CLIENT_SECRET" in response.json()["detail"]
