"""Folding the deal count changes the triggers append into the counter rows, so reading
the counts stays a sum over a few rows (see models.DealCount)."""

from django.db import connection, transaction

# pg advisory lock namespace for the fold (deals.locks uses 0x5643_4301 for deals).
_FOLD_LOCK = (0x5643_4302, 0)

_FOLD_SQL = """
WITH folded AS (DELETE FROM deal_count_changes RETURNING status, stage, deals)
INSERT INTO deal_counts AS c (status, stage, deals)
SELECT status, stage, sum(deals) FROM folded GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT (status, stage) DO UPDATE SET deals = c.deals + EXCLUDED.deals
"""


def deal_counts_fold() -> bool:
    """Fold every committed change into deal_counts, in one transaction; False when another
    fold is running (then it does this one's work).

    Changes committed meanwhile are not visible to the DELETE and stay for the next fold;
    a reader sees the counter rows and the changes in one snapshot, before or after the
    fold, never half of it. Who else races here: other folds (the beat task, a counts
    read finding many changes), kept out by the lock; the triggers only append.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _FOLD_LOCK)
        (taken,) = cursor.fetchone()
        if taken:
            cursor.execute(_FOLD_SQL)
    return taken
