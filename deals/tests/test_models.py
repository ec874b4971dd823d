import pytest
from django.db import IntegrityError, connection, transaction

from deals.models import Deal
from deals.tests.factories import DealFactory, PipelineRunFactory

pytestmark = pytest.mark.django_db


def test_it_requires_a_hubspot_deal_id():
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.create(hubspot_deal_id=None, name="No id")  # type: ignore[misc]  # on purpose


def test_it_refuses_a_second_deal_with_the_same_hubspot_id():
    DealFactory.create(hubspot_deal_id="123")
    with pytest.raises(IntegrityError), transaction.atomic():
        DealFactory.create(hubspot_deal_id="123")


def test_it_refuses_two_rows_for_one_attempt_at_a_stage():
    run = PipelineRunFactory.create(attempt=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineRunFactory.create(deal=run.deal, stage=run.stage, attempt=1)


def test_new_deals_wait_at_intake():
    deal = DealFactory.create()
    assert (deal.status, deal.current_stage) == ("pending", "intake")


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def test_the_tables_have_the_names_and_indexes_the_queries_rely_on():
    deals = _indexes("deals")
    assert "updated_at DESC, id DESC" in deals["deals_updated_id_desc"]
    assert "hubspot_checked_in_at DESC" in deals["deals_checked_in_desc"]
    assert any("UNIQUE" in d and "(hubspot_deal_id)" in d for d in deals.values())
    runs = _indexes("pipeline_runs")
    assert "(deal_id, started_at)" in runs["pipeline_runs_deal_started"]


def test_the_queue_ordering_is_served_by_the_index():
    DealFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM deals ORDER BY updated_at DESC, id DESC LIMIT 50")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "deals_updated_id_desc" in plan
    assert "Sort" not in plan


# Committed and truncated after: ANALYZE's row estimate outlives a rollback and would steer
# later tests' plans.
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_finds_pending_deals_sent_long_ago_by_index():
    # A queue's shape (a few pending among many done), with statistics: on three rows and
    # none, two indexes cost the same to the planner, and a column more tips the balance.
    Deal.objects.bulk_create(
        Deal(hubspot_deal_id=str(n), status="pending" if n % 20 == 0 else "done")
        for n in range(400)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deals")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM deals WHERE status = 'pending'"
            " AND COALESCE(enqueued_at, created_at) < now() LIMIT 1000"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "deals_pending_last_sent" in plan
