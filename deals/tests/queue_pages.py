"""The queue's two queries as one call, for tests that read a page without the view."""

from deals.models import Deal
from deals.queue_selectors import QueueCursor, QueuePage, deal_queue_page_from, deal_queue_select


def deal_queue_page(
    *,
    limit: int,
    before: QueueCursor | None = None,
    status: str | None = None,
    stage: str | None = None,
    q: str | None = None,
    hubspot_state: str = Deal.HubspotState.ACTIVE,
) -> QueuePage:
    """A page as the view reads it: the deals (deal_queue_select), then their runs."""
    selection = deal_queue_select(
        limit=limit, before=before, status=status, stage=stage, q=q, hubspot_state=hubspot_state
    )
    return deal_queue_page_from(selection=selection)
