import pytest

from deals.services import deal_rerun
from deals.tests.factories import DealFactory
from vcc.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_it_sends_the_job_to_the_operator_lane_after_commit(django_capture_on_commit_callbacks):
    celery_app.control.purge()
    deal = DealFactory.create(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id, requested_by="alice")

    with celery_app.connection_for_write() as conn:
        client = conn.default_channel.client  # type: ignore[attr-defined]  # kombu-stubs lack it
        [message] = client.lrange("operator", 0, -1)
        assert client.llen("celery") == 0
    assert str(deal.id).encode() in message


def test_a_failed_send_is_logged_and_left_to_the_sweeper(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("deals.tasks.process_deal.apply_async", broker_down)
    deal = DealFactory.create(status="failed")

    with django_capture_on_commit_callbacks(execute=True):
        deal_rerun(deal_id=deal.id, requested_by="alice")

    assert "deal_enqueue_failed" in [r.message for r in caplog.records]
    deal.refresh_from_db()
    assert deal.status == "pending"  # committed; the sweeper sends it again later
