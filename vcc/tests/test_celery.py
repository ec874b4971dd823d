"""The worker's start-up rules (vcc/celery.py)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from vcc.celery import app as celery_app


def test_a_worker_serving_the_syncs_refuses_to_start_without_a_token():
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "vcc", "worker", "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "HUBSPOT_ACCESS_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("worker: HUBSPOT_ACCESS_TOKEN is not set")


@pytest.mark.worker
def test_a_worker_serving_only_the_pipeline_needs_no_token(celery_worker):
    worker = celery_worker(queues="celery", env={"HUBSPOT_ACCESS_TOKEN": ""}, concurrency=1)

    replies = celery_app.control.inspect(destination=[worker.name], timeout=5).active_queues()

    assert [queue["name"] for queue in replies[worker.name]] == ["celery"]
