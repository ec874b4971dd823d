"""Test stages for real worker processes: `celery worker --include deals.tests.worker_stages`.

TEST_STAGES="segmentation=slow,appraisal=kill" swaps those stages in the worker:
- slow: takes TEST_STAGE_SECONDS (default 2), so a test can act in the middle of it;
- kill: SIGKILLs its own process, every time, as an out-of-memory kill would.
"""

import os
import signal
import time

from deals import stages


def slow(context) -> None:
    time.sleep(float(os.environ.get("TEST_STAGE_SECONDS", "2")))


def kill(context) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


for pair in filter(None, os.environ.get("TEST_STAGES", "").split(",")):
    stage, behaviour = pair.split("=")
    stages.register(stage, version=f"test-{behaviour}")({"slow": slow, "kill": kill}[behaviour])
