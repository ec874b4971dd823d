"""The HubSpot app's admin: imports (with the form to paste ids), webhook events, payloads."""

import pytest
from django.utils import timezone

from hubspot.models import DealImport, DealPayload, WebhookEvent
from vcc.testing import role_user

# Imports started from the admin are recorded, never sent.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_jobs")]


def test_pasted_ids_start_an_import_and_its_page_shows_each_item(
    admin_user_client, run_jobs, django_capture_on_commit_callbacks
):
    form = admin_user_client.get("/admin/hubspot/dealimport/add/")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_user_client.post(
            "/admin/hubspot/dealimport/add/",
            {"hubspot_deal_ids": "1001, 1002\n1003;1001"},
            follow=True,
        )

    deal_import = DealImport.objects.get()
    assert form.status_code == 200 and b"Paste up to 1,000" in form.content
    assert response.redirect_chain[-1][0].endswith(f"/dealimport/{deal_import.id}/change/")
    assert b"Importing 3 deal(s)." in response.content
    assert b"1003" in response.content and b"pending=" not in response.content
    assert deal_import.total == 3 and run_jobs == [str(deal_import.id)]


def test_pasted_ids_that_are_not_ids_are_refused_with_the_bad_ones(admin_user_client):
    response = admin_user_client.post(
        "/admin/hubspot/dealimport/add/", {"hubspot_deal_ids": "1001 abc 12x"}
    )

    assert response.status_code == 200
    assert b"not valid: &#x27;abc&#x27;, &#x27;12x&#x27;" in response.content
    assert not DealImport.objects.exists()


def test_payloads_and_webhook_events_are_shown_read_only(admin_user_client):
    now = timezone.now()
    DealPayload.objects.create(
        hubspot_deal_id="4242",
        payload={"id": "4242", "properties": {"dealname": "Acme <b>"}},
        size_bytes=60,
        source="webhook",
        fetched_at=now,
    )
    WebhookEvent.objects.create(
        dedupe_key="k" * 64,
        event_id=1,
        subscription_type="deal.creation",
        hubspot_deal_id="4242",
        occurred_at=now,
        status="done",
        outcome="imported",
    )

    payload = admin_user_client.get("/admin/hubspot/dealpayload/4242/change/")
    events = admin_user_client.get("/admin/hubspot/webhookevent/", {"outcome__exact": "imported"})

    assert payload.status_code == 200
    assert b"&quot;dealname&quot;: &quot;Acme &lt;b&gt;&quot;" in payload.content  # escaped
    assert b'name="payload"' not in payload.content  # read-only
    assert events.status_code == 200 and b"4242" in events.content


def test_sync_now_shows_and_answers_only_to_those_who_may_start_a_sync(client, monkeypatch):
    started: list[str] = []
    monkeypatch.setattr("hubspot.tasks.run_sync.delay", started.append)
    client.force_login(role_user("vera", "viewer"))
    viewer_list = client.get("/admin/hubspot/syncrun/")
    viewer_press = client.post("/admin/hubspot/syncrun/sync-now/")
    client.force_login(role_user("olga", "operator"))
    operator_list = client.get("/admin/hubspot/syncrun/")

    assert viewer_list.status_code == 200 and b"Sync now" not in viewer_list.content
    assert viewer_press.status_code == 403 and started == []
    assert b"Sync now" in operator_list.content


def test_a_viewer_may_not_open_the_import_form(client):
    client.force_login(role_user("vera", "viewer"))

    assert client.get("/admin/hubspot/dealimport/add/").status_code == 403
    assert client.get("/admin/hubspot/dealimport/").status_code == 200


def test_the_token_admin_shows_a_prefix_of_each_key_never_the_key(
    admin_user_client, django_user_model
):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=django_user_model.objects.create_user("robot"))

    page = admin_user_client.get("/admin/authtoken/tokenproxy/")

    assert page.status_code == 200
    assert token.key[:6].encode() in page.content and token.key.encode() not in page.content
    assert admin_user_client.get("/admin/authtoken/tokenproxy/add/").status_code == 403
