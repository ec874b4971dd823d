"""Health checks for load balancers, compose and whoever runs the stack. Anonymous on
purpose, and they say nothing a stranger could use: no hosts, no versions, no secrets."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from .celery import app as celery_app

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process is up and answering. Touches nothing else, so an outage
    of the database or the broker never gets healthy web processes restarted."""
    return JsonResponse({"status": "ok"})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("readiness_database_down", extra={"error": type(exc).__name__})
        return False
    return True


def _broker_answers() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            conn.default_channel.client.ping()  # type: ignore[attr-defined]  # kombu-stubs lack it
    except Exception as exc:  # kombu and redis-py raise many kinds; any means "not ready"
        logger.warning("readiness_broker_down", extra={"error": type(exc).__name__})
        return False
    return True


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and the broker both answer, else 503 naming which
    does not (staff actions and ingestion need both)."""
    checks = {"database": _database_answers(), "broker": _broker_answers()}
    down = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "ok" if not down else f"unavailable: {', '.join(down)}",
        **{name: "ok" if ok else "down" for name, ok in checks.items()},
    }
    return JsonResponse(body, status=503 if down else 200)
