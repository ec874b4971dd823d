"""Health alerts by mail: to ADMINS when health turns failing (each failing reason) and
when it recovers, at most one mail per reason per hour. Off while ADMINS is empty.

Beat checks every minute (hubspot.tasks.send_health_alerts). What was last seen failing
and when each reason was last mailed live in Redis, shared by every process, so a second
beat or a restart sends nothing twice; a mail that cannot be sent is not marked sent, and
the next check tries again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins

from ..ratelimit import shared_redis
from ..selectors import Severity, sync_health

logger = logging.getLogger(__name__)

ACTIVE_KEY = "health:alerts:failing"  # the failing reasons' codes at the last check
SENT_KEY = "health:alerts:sent"  # "failing:<code>" / "recovered:<code>" -> epoch seconds
THROTTLE = timedelta(hours=1)
# A cleared reason in words (its message is gone with it).
LABELS = {
    "sync_failed": "the last sync failed",
    "sync_stale": "no sync succeeded in three poll intervals",
    "daily_limit_reached": "HubSpot's daily API limit was reached",
    "backlog_old": "the oldest pending deal waited too long",
}


@dataclass(frozen=True)
class AlertResult:
    failing: list[str]  # the codes mailed as failing
    recovered: list[str]  # ...and as recovered
    suppressed: list[str]  # changes not mailed: the same reason was mailed within the hour


def health_alerts_send(*, now: datetime) -> AlertResult | None:
    """Check the health once and mail what changed since the last check (None: off)."""
    if not settings.ADMINS:
        return None
    redis = shared_redis()
    health = sync_health(now=now)
    failing = {r.code: r.message for r in health.reasons if r.severity == Severity.FAILING}
    active = {code.decode() for code in redis.smembers(ACTIVE_KEY)}  # type: ignore[union-attr]  # sync client
    sent = {k.decode(): float(v) for k, v in redis.hgetall(SENT_KEY).items()}  # type: ignore[union-attr]  # sync client

    def due(kind: str, code: str) -> bool:
        last = sent.get(f"{kind}:{code}")
        return last is None or now.timestamp() - last >= THROTTLE.total_seconds()

    new = sorted(set(failing) - active)
    cleared = sorted(active - set(failing))
    to_fail = [code for code in new if due("failing", code)]
    # Recovered: the system as a whole is no longer failing, and these reasons cleared.
    to_recover = [code for code in cleared if due("recovered", code)] if not failing else []
    suppressed = [c for c in new if c not in to_fail] + [
        c for c in cleared if not failing and c not in to_recover
    ]
    unsent: set[str] = set()
    if to_fail:
        lines = [failing[code] for code in to_fail]
        others = [failing[code] for code in sorted(set(failing) - set(to_fail))]
        body = _body("VCC deal intake is failing:", lines, now=now)
        if others:
            body += _body("\nStill failing:", others, now=None)
        if _mail(f"Failing: {lines[0]}", body):
            redis.hset(SENT_KEY, mapping={f"failing:{c}": now.timestamp() for c in to_fail})
        else:
            unsent, to_fail = set(to_fail), []
    recovery_unsent = False
    if to_recover:
        cleared_lines = [LABELS.get(code, code) for code in to_recover]
        body = _body("VCC deal intake has recovered. Cleared:", cleared_lines, now=now)
        body += f"Health is {health.status} now.\n"
        if _mail(f"Recovered: health is {health.status}", body):
            redis.hset(SENT_KEY, mapping={f"recovered:{c}": now.timestamp() for c in to_recover})
        else:
            recovery_unsent, to_recover = True, []
    # What the next check compares with: while failing, every reason seen in this incident
    # (the recovery mail lists them all); a mail not sent leaves its change to come again.
    keep = set(failing) - unsent
    if failing or recovery_unsent:
        keep |= active
    with redis.pipeline() as pipe:
        pipe.delete(ACTIVE_KEY)
        if keep:
            pipe.sadd(ACTIVE_KEY, *sorted(keep))
        pipe.execute()
    if to_fail or to_recover:
        logger.warning(
            "health_alert_sent",
            extra={"failing": ",".join(to_fail), "recovered": ",".join(to_recover)},
        )
    return AlertResult(to_fail, to_recover, suppressed)


def _body(title: str, lines: list[str], *, now: datetime | None) -> str:
    text = "\n".join([title, *(f"- {line}" for line in lines)]) + "\n"
    return text + (f"(checked {now:%Y-%m-%d %H:%M} UTC)\n" if now else "")


def _mail(subject: str, body: str) -> bool:
    try:
        mail_admins(subject[:150], body, fail_silently=False)
    except Exception as exc:  # SMTP raises many kinds; any means "not sent, try again"
        logger.error("health_alert_not_sent", extra={"error": type(exc).__name__})
        return False
    return True
