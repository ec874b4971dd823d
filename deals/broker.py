"""What the broker still holds for the pipeline: the sweeper's way to tell a job that was
lost from one that is only waiting behind a backlog.

Redis keeps each queue as a list, oldest message at the tail, consumed in order. Every
`process_deal` message carries the time it was sent (SENT_AT_HEADER). So if the oldest
message still waiting was sent at T, every job sent well before T has left the queue: its
deal, if still pending, lost its job. A deal sent after T may simply be waiting.
"""

import json
from datetime import datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from vcc.celery import app as celery_app
from vcc.queues import CONTROL_QUEUE

SENT_AT_HEADER = "vcc_sent_at"


def pipeline_queues() -> list[str]:
    """The queues `process_deal` jobs wait in: every queue but the control one."""
    return [queue.name for queue in settings.CELERY_TASK_QUEUES if queue.name != CONTROL_QUEUE]


def oldest_waiting_sent_at() -> datetime | None:
    """When the oldest pipeline job still waiting in the broker was sent; None when no job
    is waiting. Raises when the broker cannot be asked (the caller then assumes nothing)."""
    oldest: datetime | None = None
    with celery_app.connection_for_read() as conn:
        client = conn.default_channel.client  # type: ignore[attr-defined]  # kombu-stubs lack it
        for queue in pipeline_queues():
            raw = client.lindex(queue, -1)  # the tail: the next one out, the oldest in
            if raw is None:
                continue
            headers = json.loads(raw).get("headers") or {}
            sent_at = parse_datetime(headers.get(SENT_AT_HEADER) or "")
            if sent_at is None:
                # Sent without the header (an older release): its age is unknown, so treat
                # it as sent now, which protects every deal from being counted as lost.
                from django.utils import timezone

                sent_at = timezone.now()
            oldest = sent_at if oldest is None else min(oldest, sent_at)
    return oldest
