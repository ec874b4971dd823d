"""HTML pages for staff. The page is a plain template; its script reads the JSON API."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from vcc.permissions import page_permission_required, user_may

from .models import Deal, Stage
from .queue_selectors import ALL_STATES, QUEUE_STAGES

# Deals HubSpot deleted or merged away, as the counts strip names them.
INACTIVE_STATES = [
    (Deal.HubspotState.ARCHIVED.value, "Deleted in HubSpot"),
    (Deal.HubspotState.MERGED.value, "Merged"),
]
# The HubSpot state filter: empty is the API's default, active (and stays out of the URL).
HUBSPOT_FILTERS = [
    ("", "Active"),
    (Deal.HubspotState.ARCHIVED.value, "Deleted in HubSpot"),
    (Deal.HubspotState.MERGED.value, "Merged"),
    (ALL_STATES, "All"),
]


# The queue page's actions, each shown only to those holding its permission (the API refuses
# the rest with 403 anyway): the page's script reads the names from `data-allowed-actions`.
PAGE_ACTIONS = {"rerun": "deals.rerun_deal", "retry": "deals.retry_deal"}


@page_permission_required("deals.view_deal")
def queue_page(request: HttpRequest) -> HttpResponse:
    """The live operator queue: deals moving through the pipeline, with a detail drawer."""
    return render(
        request,
        "deals/queue.html",
        {
            "statuses": Deal.Status.choices,
            "stages": Stage.choices,
            "queue_stages": QUEUE_STAGES,
            "inactive_states": INACTIVE_STATES,
            "hubspot_filters": HUBSPOT_FILTERS,
            "allowed_actions": [
                action for action, needed in PAGE_ACTIONS.items() if user_may(request.user, needed)
            ],
        },
    )
