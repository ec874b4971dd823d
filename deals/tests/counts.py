"""For any test that changes deals: check the kept counts against the deals themselves.

from deals.tests.counts import assert_deal_counts_exact
...  # move deals around, by whatever path
assert_deal_counts_exact()
"""

from django.db import connection

from deals.selectors import deal_counts
from deals.services import deal_counts_fold


def deal_counts_by_group_by() -> dict[tuple[str, str], int]:
    """(status, stage) -> deals, counted the slow way: a GROUP BY over the deals; a deal
    archived or merged in HubSpot under that state instead of its status."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN hubspot_state = 'active' THEN status ELSE hubspot_state END,"
            " current_stage, count(*) FROM deals GROUP BY 1, 2"
        )
        return {(status, stage): n for status, stage, n in cursor.fetchall()}


def _counter_rows() -> dict[tuple[str, str], int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, stage, deals FROM deal_counts")
        return {(status, stage): n for status, stage, n in cursor.fetchall()}


def _differences(kept: dict, real: dict) -> dict:
    return {
        key: {"kept": kept.get(key, 0), "real": real.get(key, 0)}
        for key in kept.keys() | real.keys()
        if kept.get(key, 0) != real.get(key, 0)
    }


def assert_deal_counts_exact() -> None:
    """The counts as read (counter rows plus unfolded changes) equal a GROUP BY over the
    deals, active ones by status and by stage, archived and merged ones apart; then,
    folded, the counter rows alone equal it cell by cell and none is negative."""
    real = deal_counts_by_group_by()
    read = deal_counts()
    by_status: dict[str, int] = {}
    by_stage: dict[str, int] = {}
    inactive: dict[str, int] = {}
    for (status, stage), n in real.items():
        if status in ("archived", "merged"):
            inactive[status] = inactive.get(status, 0) + n
            continue
        by_status[status] = by_status.get(status, 0) + n
        by_stage[stage] = by_stage.get(stage, 0) + n
    assert {k: v for k, v in read.by_status.items() if v} == by_status, (read, real)
    assert {k: v for k, v in read.by_stage.items() if v} == by_stage, (read, real)
    assert {k: v for k, v in read.inactive.items() if v} == inactive, (read, real)
    assert read.total == sum(by_status.values())

    assert deal_counts_fold(), "another fold held the lock"
    rows = _counter_rows()
    assert not _differences({k: v for k, v in rows.items() if v}, real), _differences(rows, real)
    assert all(n >= 0 for n in rows.values()), rows
