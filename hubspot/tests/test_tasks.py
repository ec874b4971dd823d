import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from hubspot.models import SyncRun
from hubspot.services import sync_runs_delete_old
from vcc.celery import app as celery_app

pytestmark = pytest.mark.django_db


# The scheduler closes and reopens database connections, so these need real commits.
@pytest.mark.django_db(transaction=True)
def test_beat_installs_the_poll_with_the_interval_from_settings():
    DatabaseScheduler(app=celery_app)  # what `celery beat` does when it starts

    poll = PeriodicTask.objects.get(name="hubspot-poll")
    assert poll.task == "hubspot.tasks.poll_hubspot"
    assert poll.interval.every * {"minutes": 60, "seconds": 1}[poll.interval.period] == (
        settings.HUBSPOT_POLL_INTERVAL_MINUTES * 60
    )
    assert PeriodicTask.objects.filter(name="deals-sweep-stuck", enabled=True).exists()


@pytest.mark.django_db(transaction=True)
def test_starting_beat_again_keeps_one_entry_and_a_pause_set_by_staff():
    DatabaseScheduler(app=celery_app)
    PeriodicTask.objects.filter(name="hubspot-poll").update(enabled=False)

    DatabaseScheduler(app=celery_app)

    assert PeriodicTask.objects.filter(name="hubspot-poll").count() == 1
    assert PeriodicTask.objects.get(name="hubspot-poll").enabled is False


def test_old_sync_runs_are_deleted(settings):
    settings.HUBSPOT_SYNC_RUN_RETENTION_DAYS = 30
    now = timezone.now()
    old = SyncRun.objects.create(
        trigger="scheduled", status="succeeded", created_at=now - timedelta(days=31)
    )
    recent = SyncRun.objects.create(
        trigger="scheduled", status="succeeded", created_at=now - timedelta(days=29)
    )

    assert sync_runs_delete_old(now=now) == 1
    assert list(SyncRun.objects.values_list("id", flat=True)) == [recent.id]
    assert not SyncRun.objects.filter(id=old.id).exists()


def _without_token() -> dict[str, str]:
    return {**os.environ, "HUBSPOT_ACCESS_TOKEN": ""}


def test_the_web_process_boots_without_a_token():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=_without_token(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
