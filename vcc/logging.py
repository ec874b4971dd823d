"""Structured log lines: `ts level logger event key=value ...`, secrets redacted.

Code logs an event name and its fields as `extra`:
    logger.info("stage_started", extra={"deal_id": deal.id, "stage": "intake"})
"""

import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_quote(record.getMessage())}",
        ]
        parts += [
            f"{key}={_quote(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return redact(" ".join(parts))


def redact(line: str) -> str:
    # The last line of defence, on the finished line (message, fields and traceback): no
    # secret from settings reaches a log, whoever logged it and however (a run's log lines
    # too: deals/stages.py).
    from django.conf import settings

    for name in (
        "HUBSPOT_ACCESS_TOKEN",
        "HUBSPOT_CLIENT_SECRET",
        "HUBSPOT_CLIENT_SECRET_PREVIOUS",
        "METRICS_TOKEN",
        "EMAIL_HOST_PASSWORD",
    ):
        secret = getattr(settings, name, "")
        if secret:
            line = line.replace(secret, "[redacted]")
    return line
