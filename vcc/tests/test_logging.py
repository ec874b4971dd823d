import logging
import sys

from vcc.logging import KeyValueFormatter


def _record(message: str, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord("deals.pipeline", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_is_the_event_and_its_fields_as_key_values():
    record = _record("stage_started", deal_id="d-1", stage="intake", note="two words")

    line = KeyValueFormatter().format(record)

    assert line.startswith("ts=")
    assert "level=info logger=deals.pipeline event=stage_started deal_id=d-1 stage=intake" in line
    assert line.endswith('note="two words"')


def test_the_hubspot_token_never_reaches_a_log_line(settings):
    settings.HUBSPOT_ACCESS_TOKEN = "pat-na1-very-secret"
    try:
        raise RuntimeError("refused: pat-na1-very-secret")
    except RuntimeError:
        record = _record("calling %s", "Bearer pat-na1-very-secret", header="pat-na1-very-secret")
        record.exc_info = sys.exc_info()

    line = KeyValueFormatter().format(record)

    assert "very-secret" not in line
    assert "Bearer [redacted]" in line and "header=[redacted]" in line
    assert "refused: [redacted]" in line  # the traceback too
