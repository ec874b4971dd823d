"""The example stages: each small, deterministic and fast (no external calls), and each an
honest example of the contract in deals/stages.py: params, an output later stages read, a
log line or two. Real stages replace them by registering under the same name.

intake checks and normalises the deal's fields; segmentation derives a segment from the
amount; categorization a category from the HubSpot deal stage; appraisal a figure and a
confidence from both; review decides pass or hold; done writes the outcome.

A later stage reads an earlier one's output from the context. A run from before outputs
were kept has none: the stage derives it again from the deal, with the earlier stage's
params, and logs that it did.
"""

import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings

from .models import Stage
from .stages import StageContext, StageError, register

INTAKE_PARAMS: dict[str, Any] = {"name_max_length": 200}
SEGMENTATION_PARAMS: dict[str, Any] = {
    # [lowest amount, segment], ascending: a deal's segment is the last band it reaches.
    "bands": [[0, "small"], [10_000, "mid"], [50_000, "large"], [150_000, "enterprise"]],
}
CATEGORIZATION_PARAMS: dict[str, Any] = {
    # HubSpot's default sales pipeline's stages.
    "categories": {
        "appointmentscheduled": "early",
        "qualifiedtobuy": "early",
        "presentationscheduled": "engaged",
        "decisionmakerboughtin": "engaged",
        "contractsent": "committed",
        "closedwon": "won",
        "closedlost": "lost",
    },
    "default": "unknown",
}
APPRAISAL_PARAMS: dict[str, Any] = {
    # The figure: the amount times the category's likelihood of closing.
    "likelihood": {
        "early": 0.2,
        "engaged": 0.5,
        "committed": 0.8,
        "won": 1.0,
        "lost": 0.0,
        "unknown": 0.1,
    },
    # How sure the appraisal is: by segment, halved for an unknown category.
    "confidence": {"small": 0.9, "mid": 0.8, "large": 0.7, "enterprise": 0.6},
}
REVIEW_PARAMS: dict[str, Any] = {
    "min_confidence": 0.5,
    "hold_categories": ["lost", "unknown"],
    "max_figure": 100_000,  # larger figures wait for a person
}
_CENTS = Decimal("0.01")


def _demo_pause() -> None:
    # Lets the demo show deals moving; zero (no pause) unless PIPELINE_DEMO_STAGE_SECONDS is set.
    if settings.PIPELINE_DEMO_STAGE_SECONDS:
        time.sleep(settings.PIPELINE_DEMO_STAGE_SECONDS)


def _earlier(context: StageContext, stage: str, key: str) -> dict[str, Any] | None:
    """An earlier stage's output, if it has `key` (else None: derive it again)."""
    output = context.outputs.get(stage)
    if isinstance(output, dict) and key in output:
        return output
    context.log.warning("no %s output on record for this deal: derived again", stage)
    return None


@register(Stage.INTAKE, version="1", params=INTAKE_PARAMS)
def intake(context: StageContext) -> dict[str, Any]:
    """Check that the deal carries what the later stages need; output the values checked,
    normalised."""
    _demo_pause()
    return _intake(context, context.params)


def _intake(context: StageContext, params: dict[str, Any] | Any) -> dict[str, Any]:
    deal = context.deal
    missing = []
    if not deal.name.strip():
        missing.append("name (HubSpot dealname)")
    if deal.amount is None:
        missing.append("amount")
    if deal.hubspot_checked_in_at is None:
        missing.append("checked-in time")
    if missing:
        raise StageError(f"deal {deal.hubspot_deal_id} is missing {', '.join(missing)}")
    assert deal.amount is not None and deal.hubspot_checked_in_at is not None  # raised above
    if deal.amount < 0:
        raise StageError(f"deal {deal.hubspot_deal_id} has a negative amount ({deal.amount})")
    name = " ".join(deal.name.split())[: params["name_max_length"]]
    deal_stage = (deal.deal_stage or "").strip().lower() or None
    context.log.info("name, amount and checked-in time present; amount %s", deal.amount)
    return {
        "name": name,
        "amount": str(deal.amount.quantize(_CENTS)),
        "deal_stage": deal_stage,
        "checked_in_at": deal.hubspot_checked_in_at.isoformat(),
    }


def _amount(context: StageContext) -> Decimal:
    checked = _earlier(context, Stage.INTAKE, "amount") or _intake(context, INTAKE_PARAMS)
    return Decimal(checked["amount"])


@register(Stage.SEGMENTATION, version="1", params=SEGMENTATION_PARAMS)
def segmentation(context: StageContext) -> dict[str, Any]:
    _demo_pause()
    return _segment(context, context.params)


def _segment(context: StageContext, params: dict[str, Any] | Any) -> dict[str, Any]:
    amount = _amount(context)
    segment, floor = params["bands"][0][1], params["bands"][0][0]
    for lowest, name in params["bands"]:
        if amount >= lowest:
            segment, floor = name, lowest
    context.log.info("amount %s is in the %s band (from %s)", amount, segment, floor)
    return {"segment": segment, "amount": str(amount), "band_from": floor}


@register(Stage.CATEGORIZATION, version="1", params=CATEGORIZATION_PARAMS)
def categorization(context: StageContext) -> dict[str, Any]:
    _demo_pause()
    return _categorize(context, context.params)


def _categorize(context: StageContext, params: dict[str, Any] | Any) -> dict[str, Any]:
    checked = _earlier(context, Stage.INTAKE, "deal_stage") or _intake(context, INTAKE_PARAMS)
    deal_stage = checked["deal_stage"]
    category = params["categories"].get(deal_stage)
    if category is None:
        category = params["default"]
        context.log.warning("HubSpot deal stage %r is not mapped: %s", deal_stage, category)
    else:
        context.log.info("HubSpot deal stage %s is %s", deal_stage, category)
    return {"category": category, "deal_stage": deal_stage}


@register(Stage.APPRAISAL, version="1", params=APPRAISAL_PARAMS)
def appraisal(context: StageContext) -> dict[str, Any]:
    _demo_pause()
    return _appraise(context, context.params)


def _appraise(context: StageContext, params: dict[str, Any] | Any) -> dict[str, Any]:
    segmented = _earlier(context, Stage.SEGMENTATION, "segment") or _segment(
        context, SEGMENTATION_PARAMS
    )
    categorized = _earlier(context, Stage.CATEGORIZATION, "category") or _categorize(
        context, CATEGORIZATION_PARAMS
    )
    segment, category = segmented["segment"], categorized["category"]
    likelihood = params["likelihood"].get(category, 0.0)
    amount = _amount(context)
    figure = (amount * Decimal(str(likelihood))).quantize(_CENTS, rounding=ROUND_HALF_UP)
    confidence = params["confidence"].get(segment, 0.5)
    if category not in params["likelihood"] or category == "unknown":
        confidence /= 2
    confidence = round(confidence, 2)
    context.log.info(
        "%s x %s (%s) = %s; confidence %s (%s)",
        amount,
        likelihood,
        category,
        figure,
        confidence,
        segment,
    )
    return {
        "figure": str(figure),
        "confidence": confidence,
        "segment": segment,
        "category": category,
    }


@register(Stage.REVIEW, version="1", params=REVIEW_PARAMS)
def review(context: StageContext) -> dict[str, Any]:
    _demo_pause()
    return _review(context, context.params)


def _review(context: StageContext, params: dict[str, Any] | Any) -> dict[str, Any]:
    appraised = _earlier(context, Stage.APPRAISAL, "figure") or _appraise(context, APPRAISAL_PARAMS)
    reasons = []
    if appraised["confidence"] < params["min_confidence"]:
        reasons.append(f"confidence {appraised['confidence']} below {params['min_confidence']}")
    if appraised["category"] in params["hold_categories"]:
        reasons.append(f"category {appraised['category']}")
    if Decimal(appraised["figure"]) > params["max_figure"]:
        reasons.append(f"figure {appraised['figure']} above {params['max_figure']}")
    decision = "hold" if reasons else "pass"
    context.log.info("%s%s", decision, f": {'; '.join(reasons)}" if reasons else "")
    return {"decision": decision, "reasons": reasons}


@register(Stage.DONE, version="1")
def done(context: StageContext) -> dict[str, Any]:
    """The outcome, from the earlier stages' outputs: what the deal's pass concluded."""
    _demo_pause()
    reviewed = _earlier(context, Stage.REVIEW, "decision") or _review(context, REVIEW_PARAMS)
    appraised = _earlier(context, Stage.APPRAISAL, "figure") or _appraise(context, APPRAISAL_PARAMS)
    outcome = {
        "decision": reviewed["decision"],
        "segment": appraised["segment"],
        "category": appraised["category"],
        "figure": appraised["figure"],
        "confidence": appraised["confidence"],
    }
    context.log.info("outcome: %s, figure %s", outcome["decision"], outcome["figure"])
    return outcome
