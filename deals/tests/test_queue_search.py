"""Queue search (`q`) by index gives exactly what a plain scan gives."""

import re

import pytest
from django.db import connection

from deals.models import Deal
from deals.queue_selectors import QueueCursor
from deals.tests.queue_pages import deal_queue_page

pytestmark = pytest.mark.django_db

NAMES = [
    "Acme Roof",
    "ACME roofing",
    "Harbour View",
    "harbour-view annex",
    "Café Ünïcode",
    "CAFÉ ÜNÏCODE 2",
    "100% Pure",
    "under_score",
    "back\\slash",
    "Deal 99999",
    "Deal 999990",
    "",
]


@pytest.fixture
def deals() -> list[Deal]:
    made = Deal.objects.bulk_create(
        Deal(hubspot_deal_id=f"{prefix}{n:04d}", name=NAMES[n % len(NAMES)] + f" #{n}")
        for prefix in ("2000", "2001", "3100")
        for n in range(60)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deals")
    return made


def _by_scan(q: str) -> list:
    """The same search as a plain scan: no index may serve it."""
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "SELECT id FROM deals WHERE hubspot_deal_id LIKE %s OR name ILIKE %s "
            "ORDER BY updated_at DESC, id DESC",
            [f"{like}%", f"%{like}%"],
        )
        found = [row[0] for row in cursor.fetchall()]
        cursor.execute("RESET enable_indexscan")
        cursor.execute("RESET enable_bitmapscan")
    return found


def _by_index(q: str, *, limit: int = 7) -> list:
    """Every page of the queue's search, walked with next_before, the indexes preferred."""
    seen, before = [], None
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    while True:
        page = deal_queue_page(limit=limit, before=before, q=q)
        seen += [deal.id for deal in page.deals]
        if page.next_before is None:
            break
        before = QueueCursor.decode(page.next_before.encode())
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_seqscan")
    return seen


@pytest.mark.parametrize(
    "q",
    [
        "2001",  # a HubSpot id prefix
        "20010",
        "3100005",
        "acme",  # a name part, any case
        "ROOF",
        "harbour-v",
        "café",  # not ASCII, any case
        "ünïcode 2",
        "99999",  # both a name part and not an id prefix
        "100%",  # LIKE's wildcards and escape, taken literally
        "_score",
        "k\\s",
        "%",
        "de",  # shorter than a trigram
        "zzz",  # nothing
    ],
)
def test_search_pages_equal_a_plain_ilike_scan(deals, q):
    expected = _by_scan(q)

    assert _by_index(q) == expected
    assert len(expected) == len(set(expected))


def test_the_name_and_id_prefix_indexes_serve_the_search(deals):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # not the updated_at walk
        cursor.execute(
            "EXPLAIN SELECT id FROM deals WHERE hubspot_deal_id LIKE %s OR name ILIKE %s",
            ["2001%", "%harbour%"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "deals_name_trgm" in plan, plan
    # Django's text_pattern_ops index beside the unique one (or, where the database's
    # collation is C, the unique one itself: it then serves a LIKE prefix as well).
    prefix = r"Index Scan on deals_hubspot_deal_id_\w+ .*\n\s+Index Cond: \(\(hubspot_deal_id"
    assert re.search(prefix, plan), plan
