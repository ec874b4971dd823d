"""The worker's start-up rules (vcc/celery.py)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from vcc.celery import app as celery_app


def _refusal(*args: str, env: dict[str, str] | None = None) -> str:
    """Start a worker with `args`; it must exit non-zero: its last line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "vcc", "worker", "-l", "WARNING", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


def test_a_worker_serving_the_syncs_refuses_to_start_without_a_token():
    last_line = _refusal(env={"HUBSPOT_ACCESS_TOKEN": ""})

    assert last_line.startswith("worker: HUBSPOT_ACCESS_TOKEN is not set")


def test_a_worker_serving_the_backlog_but_not_the_operator_lane_refuses_to_start():
    last_line = _refusal("-Q", "celery")

    assert last_line.startswith("worker: it serves the 'celery' backlog but not the 'operator'")


def test_a_worker_whose_queues_are_listed_out_of_order_refuses_to_start():
    last_line = _refusal("-Q", "celery,operator")

    assert last_line == (
        "worker: -Q lists the queues out of order; list them as operator,celery "
        "(a worker takes the next job from the first queue that has one)"
    )


def _served(worker) -> list[str]:
    replies = celery_app.control.inspect(destination=[worker.name], timeout=5).active_queues()
    assert replies is not None, f"{worker.name} did not answer"
    return [queue["name"] for queue in replies[worker.name]]


@pytest.mark.worker
def test_a_worker_serving_only_the_pipeline_needs_no_token(celery_worker):
    worker = celery_worker(
        queues="operator,celery", env={"HUBSPOT_ACCESS_TOKEN": ""}, concurrency=1
    )

    assert _served(worker) == ["operator", "celery"]


@pytest.mark.worker
def test_a_worker_started_as_bin_run_and_compose_do_serves_operators_first(celery_worker):
    worker = celery_worker(concurrency=1)  # no -Q: every queue

    assert _served(worker) == ["operator", "control", "celery"]
    assert celery_app.conf.broker_transport_options["queue_order_strategy"] == "priority"
