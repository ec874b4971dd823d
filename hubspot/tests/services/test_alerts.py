"""Health alerts by mail: failing and recovered, one mail per reason per hour, off
without ADMINS. The clock is the `now` each check is given."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from hubspot.models import SyncRun
from hubspot.ratelimit import shared_redis
from hubspot.services import health_alerts_send
from hubspot.services.alerts import ACTIVE_KEY, SENT_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def alerts_on(settings):
    settings.ADMINS = [("ops@example.com", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUBSPOT_POLL_INTERVAL_MINUTES = 5
    shared_redis().delete(ACTIVE_KEY, SENT_KEY)
    yield
    shared_redis().delete(ACTIVE_KEY, SENT_KEY)


def _sync(status: str, at, error: str = "") -> SyncRun:
    return SyncRun.objects.create(
        trigger="scheduled",
        status=status,
        created_at=at,
        started_at=at,
        finished_at=at,
        error=error,
    )


def test_nothing_is_sent_without_admins(settings):
    settings.ADMINS = []
    _sync("failed", timezone.now(), "boom")

    assert health_alerts_send(now=timezone.now()) is None
    assert mail.outbox == []


def test_turning_failing_mails_each_reason_once_then_recovery_once():
    t0 = timezone.now()
    _sync("failed", t0, "HubSpot answered 401")

    first = health_alerts_send(now=t0)
    again = health_alerts_send(now=t0 + timedelta(minutes=1))  # still failing: no new mail

    assert first is not None and first.failing == ["sync_failed"]
    assert again is not None and again.failing == []
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "The last sync failed: HubSpot answered 401." in mail.outbox[0].subject
    assert "The last sync failed: HubSpot answered 401." in mail.outbox[0].body

    _sync("succeeded", t0 + timedelta(minutes=2))
    recovered = health_alerts_send(now=t0 + timedelta(minutes=3))

    assert recovered is not None and recovered.recovered == ["sync_failed"]
    assert len(mail.outbox) == 2
    assert "Recovered" in mail.outbox[1].subject
    assert "the last sync failed" in mail.outbox[1].body


def test_a_reason_flapping_within_the_hour_is_mailed_once_and_again_after_it():
    t0 = timezone.now()
    at = t0
    for minute in range(0, 50, 10):  # fails, recovers, fails... every 5 minutes
        at = t0 + timedelta(minutes=minute)
        _sync("failed", at, "boom")
        health_alerts_send(now=at)
        _sync("succeeded", at + timedelta(minutes=5))
        health_alerts_send(now=at + timedelta(minutes=5))

    subjects = [message.subject for message in mail.outbox]
    assert sum("Failing" in s for s in subjects) == 1
    assert sum("Recovered" in s for s in subjects) == 1

    later = t0 + timedelta(minutes=65)
    _sync("failed", later, "boom")
    result = health_alerts_send(now=later)

    assert result is not None and result.failing == ["sync_failed"]
    assert sum("Failing" in m.subject for m in mail.outbox) == 2


def test_a_mail_that_cannot_be_sent_is_tried_again_at_the_next_check(monkeypatch):
    t0 = timezone.now()
    _sync("failed", t0, "boom")

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr("hubspot.services.alerts.mail_admins", refuse)
    assert health_alerts_send(now=t0).failing == []  # type: ignore[union-attr]

    monkeypatch.undo()
    assert health_alerts_send(now=t0 + timedelta(minutes=1)).failing == ["sync_failed"]  # type: ignore[union-attr]
    assert len(mail.outbox) == 1


def test_degraded_reasons_send_no_mail(settings):
    _sync("succeeded", timezone.now())
    SyncRun.objects.create(
        trigger="scheduled", kind="reconcile", status="failed", finished_at=timezone.now()
    )

    assert health_alerts_send(now=timezone.now()).failing == []  # type: ignore[union-attr]
    assert mail.outbox == []
