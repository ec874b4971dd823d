"""The stage registry: one plain function per pipeline stage.

The runner looks stages up here by name, so real logic replaces a stub by registering
a function under the same name; the runner does not change. A stage takes the deal,
does its work, and either returns (succeeded) or raises:

- StageError: a permanent failure; the message is shown to operators as it is.
- RetryableStageError: a transient failure; the runner tries the stage again with backoff.
"""

import time
from collections.abc import Callable

from django.conf import settings

from .models import Deal, Stage

StageFunction = Callable[[Deal], None]


class StageError(Exception):
    """The stage cannot succeed for this deal as it is; retrying will not help."""


class RetryableStageError(StageError):
    """A transient failure (a timeout, a busy dependency): the runner tries again."""


_registry: dict[str, StageFunction] = {}


def register(stage: str) -> Callable[[StageFunction], StageFunction]:
    """Register `function` as the implementation of `stage`, replacing any earlier one."""
    if stage not in Stage.values:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(Stage.values)}")

    def decorator(function: StageFunction) -> StageFunction:
        _registry[stage] = function
        return function

    return decorator


def stage_function(stage: str) -> StageFunction:
    return _registry[stage]


def _demo_pause() -> None:
    # Lets the demo show deals moving; zero (no pause) unless PIPELINE_DEMO_STAGE_SECONDS is set.
    if settings.PIPELINE_DEMO_STAGE_SECONDS:
        time.sleep(settings.PIPELINE_DEMO_STAGE_SECONDS)


@register(Stage.INTAKE)
def intake(deal: Deal) -> None:
    """Check that the deal carries what the later stages need."""
    _demo_pause()
    missing = []
    if not deal.name.strip():
        missing.append("name (HubSpot dealname)")
    if deal.amount is None:
        missing.append("amount")
    if deal.hubspot_checked_in_at is None:
        missing.append("checked-in time")
    if missing:
        raise StageError(f"deal {deal.hubspot_deal_id} is missing {', '.join(missing)}")
    if deal.amount is not None and deal.amount < 0:  # None: raised above
        raise StageError(f"deal {deal.hubspot_deal_id} has a negative amount ({deal.amount})")


def _stub(deal: Deal) -> None:
    """Placeholder until the real stage lands: succeeds at once."""
    _demo_pause()


for _name in (Stage.SEGMENTATION, Stage.CATEGORIZATION, Stage.APPRAISAL, Stage.REVIEW, Stage.DONE):
    register(_name)(_stub)
