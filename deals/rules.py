"""Which actions a deal allows, and why not: the one copy of the rules.

The services refuse with them (services/actions.py; bulk actions select by the same
RERUN_FROM / RETRY_FROM and name what they skipped with `skipped_because`), the API shows
them on every deal and queue row (`actions`), the page's buttons and the admin's messages
read them. A deal HubSpot let go (deleted, merged away) allows nothing; an active one, what its
status allows.
"""

from typing import Literal, NamedTuple, TypedDict

from .models import RERUN_FROM, RETRY_FROM, Deal

Action = Literal["rerun", "retry"]
ACTIONS: tuple[Action, ...] = ("rerun", "retry")

_ALLOWED_FROM: dict[Action, tuple[str, ...]] = {"rerun": RERUN_FROM, "retry": RETRY_FROM}


class Refusal(NamedTuple):
    short: str  # "3 deals are <short>" in the admin's summary of a selection
    reason: str  # a whole sentence, as the API's 409 and the page's buttons say it


_BUSY = Refusal("being processed", "The deal is being processed; try again when it has finished.")
_REFUSALS: dict[Action, dict[str, Refusal]] = {
    "rerun": {Deal.Status.RUNNING: _BUSY},
    "retry": {
        Deal.Status.RUNNING: _BUSY,
        Deal.Status.PENDING: Refusal(
            "waiting for a worker",
            "The deal is waiting for a worker; only a failed deal can be retried.",
        ),
        Deal.Status.DONE: Refusal("done", "The deal is done; only a failed deal can be retried."),
    },
}
_NOT_IN_HUBSPOT_SHORT: dict[str, str] = {
    Deal.HubspotState.ARCHIVED: "deleted in HubSpot",
    Deal.HubspotState.MERGED: "merged into another deal in HubSpot",
}


class ActionState(TypedDict):
    allowed: bool
    reason: str


def deal_action_refusal(
    *,
    action: Action,
    status: str,
    hubspot_state: str,
    merged_into: str | None = None,
) -> Refusal | None:
    """Why `action` is refused for a deal in this state; None when it is allowed. The
    survivor's HubSpot id (`merged_into`) makes a merged deal's reason precise; when
    HubSpot let the deal go the drawer says apart."""
    if hubspot_state != Deal.HubspotState.ACTIVE:
        if hubspot_state == Deal.HubspotState.MERGED:
            into = f" into {merged_into}" if merged_into else " into another deal"
            reason = f"The deal was merged{into} in HubSpot; act on that one."
        else:
            reason = "The deal was deleted in HubSpot; restore it there first."
        return Refusal(_NOT_IN_HUBSPOT_SHORT.get(hubspot_state, hubspot_state), reason)
    if status in _ALLOWED_FROM[action]:
        return None
    return _REFUSALS[action].get(status, Refusal(status, f"The deal is {status}."))


def skipped_because(*, action: Action, key: str) -> str:
    """The admin's words for deals a bulk `action` skipped under `key` (a status, or a
    HubSpot state for deals HubSpot let go)."""
    if key in _NOT_IN_HUBSPOT_SHORT:
        return _NOT_IN_HUBSPOT_SHORT[key]
    return _REFUSALS[action].get(key, Refusal(key, "")).short


def deal_actions(
    *,
    status: str,
    current_stage: str,
    hubspot_state: str,
    merged_into: str | None = None,
) -> dict[str, ActionState]:
    """Every action with whether the deal allows it and, either way, what it does or why not."""
    does = {
        "rerun": "Start the deal again at intake, ahead of the backlog.",
        "retry": f"Resume at {current_stage}, ahead of the backlog.",
    }
    states: dict[str, ActionState] = {}
    for action in ACTIONS:
        refusal = deal_action_refusal(
            action=action,
            status=status,
            hubspot_state=hubspot_state,
            merged_into=merged_into,
        )
        states[action] = (
            ActionState(allowed=True, reason=does[action])
            if refusal is None
            else ActionState(allowed=False, reason=refusal.reason)
        )
    return states
