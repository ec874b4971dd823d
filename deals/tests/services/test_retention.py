from datetime import timedelta

import pytest
from django.utils import timezone

from deals.services import pipeline_runs_clear_old_logs
from deals.tests.factories import PipelineRunFactory

pytestmark = pytest.mark.django_db

LINES = [{"at": "2026-01-01T00:00:00+00:00", "level": "info", "message": "hello"}]


def test_it_clears_the_log_lines_of_runs_past_the_retention_and_keeps_their_output(settings):
    settings.PIPELINE_RUN_LOG_RETENTION_DAYS = 90
    now = timezone.now()
    old = PipelineRunFactory.create(
        started_at=now - timedelta(days=91), output={"segment": "mid"}, log_lines=LINES
    )
    recent = PipelineRunFactory.create(
        started_at=now - timedelta(days=89), output={"segment": "mid"}, log_lines=LINES
    )

    assert pipeline_runs_clear_old_logs(now=now) == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.log_lines, old.log_lines_cleared, old.output) == (None, True, {"segment": "mid"})
    assert (recent.log_lines, recent.log_lines_cleared) == (LINES, False)
    assert pipeline_runs_clear_old_logs(now=now) == 0  # nothing left to clear


def test_it_clears_in_batches_however_many_runs(settings, monkeypatch):
    from deals.services import retention

    monkeypatch.setattr(retention, "_BATCH", 2)
    settings.PIPELINE_RUN_LOG_RETENTION_DAYS = 1
    long_ago = timezone.now() - timedelta(days=5)
    for _ in range(5):
        PipelineRunFactory.create(started_at=long_ago, log_lines=LINES)

    assert pipeline_runs_clear_old_logs() == 5


def test_beat_runs_the_clearing_daily_on_the_control_queue(settings):
    from deals.tasks import clear_old_run_logs

    entry = settings.CELERY_BEAT_SCHEDULE["deals-clear-old-run-logs"]
    assert entry["task"] == clear_old_run_logs.name
    assert settings.CELERY_TASK_ROUTES[clear_old_run_logs.name] == {"queue": "control"}
    PipelineRunFactory.create(started_at=timezone.now() - timedelta(days=365), log_lines=LINES)
    assert clear_old_run_logs() == 1
