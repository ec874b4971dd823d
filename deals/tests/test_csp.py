"""The Content-Security-Policy holds on every page people use: no inline script or style,
nothing from elsewhere; Chromium reports no violation on the queue page, the admin and the
API docs."""

from django.utils import timezone
from playwright.sync_api import expect

from deals.tests.browser import browser_test, log_in
from deals.tests.factories import DealFactory
from hubspot.models import DealPayload


def test_every_page_sends_the_policy_and_a_referrer_policy(admin_user_client):
    response = admin_user_client.get("/queue/")

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert response.headers["Referrer-Policy"] == "same-origin"


@browser_test
def test_chromium_reports_no_violation_on_the_queue_the_admin_and_the_docs(page, django_user_model):
    django_user_model.objects.create_superuser("root", password="pw")
    deal = DealFactory.create(status="failed")
    DealPayload.objects.create(
        hubspot_deal_id=deal.hubspot_deal_id, payload={"id": deal.hubspot_deal_id},
        size_bytes=20, source="sync", fetched_at=timezone.now(),
    )  # fmt: skip
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url} {message.text[:60]}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    log_in(page, path=f"/queue/?deal={deal.id}", username="root")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.get_by_role("dialog")).to_be_visible()

    for path in (
        "/admin/",
        "/admin/deals/deal/",
        f"/admin/deals/deal/{deal.id}/change/",
        f"/admin/hubspot/dealpayload/{deal.hubspot_deal_id}/change/",
        # (Not its add/change form: django-celery-beat's template runs an inline script,
        # which the policy blocks; the form works without it, the task picker unaided.)
        "/admin/django_celery_beat/periodictask/",
    ):
        page.goto(path)
        expect(page.locator("#content")).to_be_visible()
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()

    assert violations == []
