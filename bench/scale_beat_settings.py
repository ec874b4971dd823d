"""Settings for the beat processes of bench/scale_workers.py: the project's, with the sync
polled every BENCH_POLL_SECONDS (HUBSPOT_POLL_INTERVAL_MINUTES counts whole minutes), so
two beats fire syncs many times within one run. Beat installs this schedule into
django-celery-beat's tables when it starts; the workers run on vcc.settings unchanged."""

import os

from vcc.settings import *  # noqa: F403 - the project's settings, one entry changed
from vcc.settings import CELERY_BEAT_SCHEDULE

_POLL_SECONDS = float(os.environ.get("BENCH_POLL_SECONDS", "3"))
CELERY_BEAT_SCHEDULE["hubspot-poll"] = {
    **CELERY_BEAT_SCHEDULE["hubspot-poll"],
    "schedule": _POLL_SECONDS,
    "options": {"expires": _POLL_SECONDS},
}
