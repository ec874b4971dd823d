"""The stage contract and its registry: one registered stage per pipeline stage.

A stage is a function registered under its stage name with a `version` and its `params`
(its configuration, JSON). The runner (deals/pipeline.py) calls it with a StageContext:
the deal, the params, the outputs of the earlier stages, and a logger for this run. It
returns its output (JSON-serialisable; None for none) or raises:

- StageError: a permanent failure; the message is shown to operators as it is.
- RetryableStageError: a transient failure; the runner tries the stage again with backoff.

Anything else is a bug in the stage: the deal fails with the exception's type and message
on the run, and the traceback goes to the server log only. Every run records the stage's
version and params, its output (at most OUTPUT_LIMIT_BYTES; larger is truncated and
flagged) and its log lines (at most LOG_LINES_LIMIT lines or LOG_BYTES_LIMIT; the rest are
counted). Real logic replaces an example (deals/example_stages.py) by registering under
the same name; the runner does not change. See README, "Writing a stage".
"""

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from vcc.logging import redact

from .models import Deal, Stage

OUTPUT_LIMIT_BYTES = 64 * 1024
LOG_LINES_LIMIT = 200
LOG_BYTES_LIMIT = 64 * 1024


class StageError(Exception):
    """The stage cannot succeed for this deal as it is; retrying will not help."""


class RetryableStageError(StageError):
    """A transient failure (a timeout, a busy dependency): the runner tries again."""


class RunLog:
    """A stage's logger for one run: lines with their time and level, kept with the run.

    Past LOG_LINES_LIMIT lines or LOG_BYTES_LIMIT of messages, lines are counted, not kept.
    `%`-style arguments, as the logging module takes them."""

    __slots__ = ("_bytes", "dropped", "lines")

    def __init__(self) -> None:
        self.lines: list[dict[str, str]] = []
        self.dropped = 0
        self._bytes = 0

    def _add(self, level: str, message: str, args: tuple) -> None:
        if len(self.lines) >= LOG_LINES_LIMIT:
            self.dropped += 1
            return
        try:
            text = message % args if args else message
        except (TypeError, ValueError):  # as the logging module does: never fail the caller
            text = f"{message} {args!r}"
        # What PostgreSQL's jsonb cannot hold (NUL, an unpaired surrogate) becomes a
        # replacement character; no secret from settings is kept.
        text = redact(text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode())
        size = len(text.encode())
        if self._bytes + size > LOG_BYTES_LIMIT:
            self.dropped += 1
            return
        self._bytes += size
        self.lines.append({"at": datetime.now(UTC).isoformat(), "level": level, "message": text})

    def info(self, message: str, *args: object) -> None:
        self._add("info", message, args)

    def warning(self, message: str, *args: object) -> None:
        self._add("warning", message, args)

    def error(self, message: str, *args: object) -> None:
        self._add("error", message, args)


@dataclass(frozen=True)
class StageContext:
    """What a stage is called with. `outputs`: by stage name, the output of each earlier
    stage's latest successful run for this deal: this pass's, or, for a pass that started
    at a later stage (an operator's retry), the one its earlier stages last produced."""

    deal: Deal
    params: Mapping[str, Any]
    outputs: Mapping[str, Any]
    log: RunLog


StageFunction = Callable[[StageContext], Any]


@dataclass(frozen=True)
class RegisteredStage:
    name: str
    version: str
    params: Mapping[str, Any]
    function: StageFunction
    # Serialised once, at registration: every run stores them as they are.
    params_json: str = field(repr=False, default="{}")


@dataclass(frozen=True)
class StageOutput:
    """An output as the run stores it: its JSON text (None: no output) and whether it
    was cut at OUTPUT_LIMIT_BYTES (then the value is that JSON text's start, a string)."""

    value: Any
    json: str | None
    truncated: bool


_registry: dict[str, RegisteredStage] = {}


def _check(stage: str, version: str) -> None:
    if stage not in Stage.values:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(Stage.values)}")
    if not version or len(version) > 64:
        raise ValueError(f"stage {stage}: a version of 1 to 64 characters, not {version!r}")


def registered_stage(
    stage: str, function: StageFunction, *, version: str, params: Mapping[str, Any] | None = None
) -> RegisteredStage:
    """A stage ready to register (or to swap in for a test: see deals/tests/conftest.py)."""
    _check(stage, version)
    params = dict(params or {})
    params_json = json.dumps(params, cls=DjangoJSONEncoder, allow_nan=False)  # fails early
    return RegisteredStage(stage, version, MappingProxyType(params), function, params_json)


def register(
    stage: str, *, version: str, params: Mapping[str, Any] | None = None
) -> Callable[[StageFunction], StageFunction]:
    """Register the decorated function as `stage` (replacing any earlier one)."""
    _check(stage, version)

    def decorator(function: StageFunction) -> StageFunction:
        _registry[stage] = registered_stage(stage, function, version=version, params=params)
        return function

    return decorator


def stage_get(stage: str) -> RegisteredStage:
    return _registry[stage]


def stage_output(value: Any) -> StageOutput:
    """`value` as a run stores it. Raises StageError when it is not JSON-serialisable."""
    if value is None:
        return StageOutput(None, None, False)
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StageError(f"the stage's output is not JSON-serialisable: {exc}") from exc
    text = text.encode("utf-8", "replace").decode()  # an unpaired surrogate: jsonb refuses it
    if "\\u0000" in text:  # PostgreSQL's jsonb holds no NUL character
        text = text.replace("\\u0000", "\\ufffd")
    if len(text) * 4 <= OUTPUT_LIMIT_BYTES or len(text.encode()) <= OUTPUT_LIMIT_BYTES:
        return StageOutput(json.loads(text) if text != "null" else None, text, False)
    head = text.encode()[:OUTPUT_LIMIT_BYTES].decode(errors="ignore")
    return StageOutput(head, json.dumps(head), True)


def stage_call(
    *, stage: RegisteredStage, deal: Deal, outputs: Mapping[str, Any], log: RunLog
) -> StageOutput:
    """Call the stage and return its output as a run stores it; raises what the stage
    raised. The runner calls this, and so do tests of one stage (the `run_stage` fixture)."""
    # Copies of its own: what a stage changes in them is seen by no other call, and every
    # run's record stays what the stage was given.
    context = StageContext(
        deal=deal,
        params=json.loads(stage.params_json),
        outputs=copy.deepcopy(dict(outputs)),
        log=log,
    )
    return stage_output(stage.function(context))


from . import example_stages  # noqa: E402, F401 - registers the stages the runner calls
